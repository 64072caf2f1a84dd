import FolioGrammar
import FolioTokenizers

extension TokenVocabulary {
    /// The tokenizer's tokens as a grammar sees them: each token's decoded bytes; special tokens (chat markers, EOS)
    /// never match a grammar (stop tokens are allowed separately, when the grammar accepts). `size`: the model's
    /// logits width, when it pads the vocabulary.
    public static func of(_ tokenizer: Tokenizer, size: Int? = nil) -> TokenVocabulary {
        TokenVocabulary(tokens: tokenizer.pieceBytes.enumerated().map { i, b in
            tokenizer.specialIds.contains(Int32(i)) ? nil : b
        }, size: size)
    }
}

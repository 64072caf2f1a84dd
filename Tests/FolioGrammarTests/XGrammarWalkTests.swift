import FolioGrammar
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// FNV-1a 64 over little-endian UInt32 ids (as scripts/make_grammar_goldens.py hashes xgrammar's sets).
func fnv(_ ids: [Int32]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in ids {
        for k in 0..<4 { h = (h ^ UInt64(UInt32(bitPattern: i) >> (8 * UInt32(k)) & 0xFF)) &* 0x100_0000_01b3 }
    }
    return String(format: "%016llx", h)
}

/// SmolLM2's vocabulary as the grammar engine sees it (special tokens never match).
let smolTokenizer: Tokenizer? = try? Tokenizer.load(modelPath: RealModels.smol)

func smolVocabulary() throws -> TokenVocabulary {
    guard let t = smolTokenizer else { throw FolioError.missing(path: "models/", what: "SmolLM2: run scripts/fetch-models.sh --all") }
    return TokenVocabulary(tokens: t.pieceBytes.enumerated().map { i, b in t.specialIds.contains(Int32(i)) ? nil : b })
}

@Suite("Token masks equal xgrammar's on random walks")
struct XGrammarWalkTests {
    struct Case {
        let kind: String, name: String, spec: JSONValue, seed: Int
        let tokens: [Int32]
        let steps: [JSONValue]
    }

    static func cases() throws -> (stops: [Int32], cases: [Case]) {
        let g = try JSONValue.parse(file: Fixtures.path("grammar/xgrammar-walks.json"))
        let stops = g["stop_token_ids"]!.arrayValue!.map { Int32($0.intValue!) }
        let cs = g["cases"]!.arrayValue!.map { c in
            Case(kind: c["kind"]!.stringValue!, name: c["name"]!.stringValue!, spec: c["spec"]!, seed: c["seed"]!.intValue!,
                 tokens: c["tokens"]!.arrayValue!.map { Int32($0.intValue!) }, steps: c["steps"]!.arrayValue!)
        }
        return (stops, cs)
    }

    static func spec(_ c: Case) -> StructuredOutputs {
        switch c.kind {
        case "grammar": return .grammar(c.spec.stringValue!)
        case "regex": return .regex(c.spec.stringValue!)
        case "choice": return .choice(c.spec.arrayValue!.map { $0.stringValue! })
        default: return .json(c.spec)
        }
    }

    @Test("every step's allowed set, for EBNF, regex, choice and JSON Schema walks")
    func walks() throws {
        let (stops, cases) = try Self.cases()
        let cache = GrammarCache(vocabulary: try smolVocabulary())
        var steps = 0
        for c in cases {
            let g = try cache.compiled(Self.spec(c))
            var m = g.matcher()
            for (k, st) in c.steps.enumerated() {
                let allowed = m.allowedTokens(stopIds: stops)
                let want = st["n"]!.intValue!, hash = st["h"]!.stringValue!
                let label = "\(c.kind) \(c.name) seed \(c.seed) step \(k)"
                if let ids = st["ids"]?.arrayValue { #expect(allowed == ids.map { Int32($0.intValue!) }, "\(label)") }
                #expect(allowed.count == want && fnv(allowed) == hash,
                        "\(label): \(allowed.count) allowed, xgrammar \(want); first: \(allowed.prefix(12).map { smolTokenizer?.token($0) ?? "" })")
                if allowed.count != want || fnv(allowed) != hash { break }
                steps += 1
                if k < c.tokens.count {
                    let ok = m.accept(c.tokens[k], stopIds: stops)
                    #expect(ok, "\(label): token \(c.tokens[k]) refused")
                }
            }
        }
        print("xgrammar walks: \(cases.count) walks, \(steps) steps compared")
    }
}

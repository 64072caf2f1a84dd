import FolioEngine
import FolioWeights
import Foundation

/// A `POST /v1/embeddings` request, as OpenAI and vLLM take it: `input` as a string, a list of strings, a list of
/// token ids or a list of such lists; `encoding_format` float or base64; `dimensions`; and vLLM's extras
/// `truncate_prompt_tokens`, `add_special_tokens` and `use_activation` (normalization).
public struct EmbeddingsRequest: Sendable {
    public enum Encoding: String, Sendable { case float, base64 }
    public var model: String?
    /// Texts or token ids (`PromptInput.text` / `.tokens`).
    public var inputs: [PromptInput]
    public var encoding: Encoding
    public var dimensions: Int?
    public var truncatePromptTokens: Int?
    public var addSpecialTokens: Bool
    public var normalize: Bool?

    /// OpenAI's limit on inputs in one request.
    public static let maxInputs = 2048

    public static func parse(_ body: JSONValue) throws -> EmbeddingsRequest {
        guard body.objectValue != nil else { throw APIError.invalid("the request body must be a JSON object") }
        let f = Fields(obj: body)
        if f.has("messages") { throw APIError.invalid("chat messages as embedding input are not supported; send input", param: "messages") }
        guard let raw = body["input"], !raw.isNull else { throw APIError.invalid("input is required", param: "input") }
        let inputs = try Fields.prompts(raw, field: "input")
        guard inputs.count <= maxInputs else { throw APIError.invalid("input has \(inputs.count) items; at most \(maxInputs) are allowed", param: "input") }
        for i in inputs { if case .tokens(let t) = i, t.isEmpty { throw APIError.invalid("input must not contain an empty list of token ids", param: "input") } }
        let fmt = body["encoding_format"].flatMap { $0.isNull ? nil : $0 }
        guard let encoding = fmt.map({ $0.stringValue.flatMap(Encoding.init(rawValue:)) }) ?? .float else {
            throw APIError.invalid("encoding_format must be \"float\" or \"base64\"", param: "encoding_format")
        }
        let t = try f.int("truncate_prompt_tokens")
        if let t, t < -1 { throw APIError.invalid("truncate_prompt_tokens must be -1 or greater", param: "truncate_prompt_tokens") }
        return EmbeddingsRequest(model: try f.string("model"), inputs: inputs, encoding: encoding, dimensions: try f.int("dimensions"),
                                 truncatePromptTokens: t, addSpecialTokens: try f.bool("add_special_tokens") ?? true,
                                 normalize: try f.bool("use_activation") ?? f.bool("normalize"))
    }

    /// The response body: one `embedding` object per input, in order.
    public func response(model: String, embeddings: [[Float]], promptTokens: Int) -> JSONValue {
        let data: [JSONValue] = embeddings.enumerated().map { i, e in
            let value: JSONValue
            switch encoding {
            case .float: value = .array(e.map { .number(Double($0)) })
            case .base64:
                // Little-endian float32 bytes, as OpenAI's clients decode them (numpy.frombuffer(..., dtype="float32")).
                var bytes = [UInt8](); bytes.reserveCapacity(e.count * 4)
                for f in e { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 } }
                value = .string(Data(bytes).base64EncodedString())
            }
            return .object([("index", .int(i)), ("object", .string("embedding")), ("embedding", value)])
        }
        return .object([("id", .string("embd-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())),
                        ("object", .string("list")), ("created", .int(Int(Date().timeIntervalSince1970))), ("model", .string(model)),
                        ("data", .array(data)), ("usage", ResponseBuilder.usage(prompt: promptTokens, completion: 0))])
    }
}

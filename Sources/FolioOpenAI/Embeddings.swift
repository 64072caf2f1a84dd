import FolioWeights
import Foundation

/// A `POST /v1/embeddings` request, as OpenAI and vLLM take it: `input` as a string, a list of strings, a list of
/// token ids or a list of such lists; `encoding_format` float or base64; `dimensions`; and vLLM's extras
/// `truncate_prompt_tokens`, `add_special_tokens` and `use_activation` (normalization).
public struct EmbeddingsRequest: Sendable {
    public enum Input: Sendable, Equatable {
        case text(String)
        case tokens([Int32])
    }
    public enum Encoding: String, Sendable { case float, base64 }
    public var model: String?
    public var inputs: [Input]
    public var encoding: Encoding
    public var dimensions: Int?
    public var truncatePromptTokens: Int?
    public var addSpecialTokens: Bool
    public var normalize: Bool?

    /// OpenAI's limit on inputs in one request.
    public static let maxInputs = 2048

    public static func parse(_ body: JSONValue) throws -> EmbeddingsRequest {
        guard body.objectValue != nil else { throw APIError.invalid("the request body must be a JSON object") }
        func int(_ k: String) throws -> Int? {
            guard let v = body[k], !v.isNull else { return nil }
            guard let i = v.intValue, v.doubleValue.map({ $0 == $0.rounded() }) ?? true else { throw APIError.invalid("\(k) must be an integer", param: k) }
            return i
        }
        func bool(_ k: String) throws -> Bool? {
            guard let v = body[k], !v.isNull else { return nil }
            guard let b = v.boolValue else { throw APIError.invalid("\(k) must be true or false", param: k) }
            return b
        }
        if let m = body["messages"], !m.isNull { throw APIError.invalid("chat messages as embedding input are not supported; send input", param: "messages") }
        guard let raw = body["input"], !raw.isNull else { throw APIError.invalid("input is required", param: "input") }
        var inputs: [Input] = []
        func tokens(_ a: [JSONValue]) throws -> [Int32] {
            try a.map { v in
                guard let i = v.intValue, v.doubleValue.map({ $0 == $0.rounded() }) ?? true, i >= Int(Int32.min), i <= Int(Int32.max) else {
                    throw APIError.invalid("input must be a string, a list of strings, a list of token ids or a list of lists of token ids", param: "input")
                }
                return Int32(i)
            }
        }
        if let s = raw.stringValue {
            inputs = [.text(s)]
        } else if let a = raw.arrayValue {
            guard !a.isEmpty else { throw APIError.invalid("input must not be empty", param: "input") }
            if a.allSatisfy({ $0.stringValue != nil }) {
                inputs = a.map { .text($0.stringValue!) }
            } else if a.allSatisfy({ $0.arrayValue != nil }) {
                inputs = try a.map { .tokens(try tokens($0.arrayValue!)) }
            } else {
                inputs = [.tokens(try tokens(a))]
            }
        } else {
            throw APIError.invalid("input must be a string, a list of strings, a list of token ids or a list of lists of token ids", param: "input")
        }
        guard inputs.count <= maxInputs else { throw APIError.invalid("input has \(inputs.count) items; at most \(maxInputs) are allowed", param: "input") }
        for i in inputs { if case .tokens(let t) = i, t.isEmpty { throw APIError.invalid("input must not contain an empty list of token ids", param: "input") } }
        let fmt = body["encoding_format"].flatMap { $0.isNull ? nil : $0 }
        guard let encoding = fmt.map({ $0.stringValue.flatMap(Encoding.init(rawValue:)) }) ?? .float else {
            throw APIError.invalid("encoding_format must be \"float\" or \"base64\"", param: "encoding_format")
        }
        let t = try int("truncate_prompt_tokens")
        if let t, t < -1 { throw APIError.invalid("truncate_prompt_tokens must be -1 or greater", param: "truncate_prompt_tokens") }
        let d = try int("dimensions")
        if let m = body["model"], !m.isNull, m.stringValue == nil { throw APIError.invalid("model must be a string", param: "model") }
        return EmbeddingsRequest(model: body["model"]?.stringValue, inputs: inputs, encoding: encoding, dimensions: d, truncatePromptTokens: t,
                                 addSpecialTokens: try bool("add_special_tokens") ?? true, normalize: try bool("use_activation") ?? bool("normalize"))
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

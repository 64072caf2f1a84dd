import FolioGrammar
import FolioWeights
import Foundation

/// The request fields that constrain the output, as vLLM reads them: OpenAI's `response_format` (`json_schema`,
/// `json_object`, `text`), vLLM's `structured_outputs` object (`json`, `regex`, `choice`, `grammar`, `json_object`)
/// and its older `guided_json` / `guided_regex` / `guided_choice` / `guided_grammar` fields. The spec is compiled
/// here once to report a bad schema, regex or grammar as a 400 naming the field; the engine compiles it for the model.
enum StructuredOutputsField {
    static func parse(_ body: JSONValue) throws -> StructuredOutputs? {
        var found: [(String, StructuredOutputs)] = []
        if let rf = body["response_format"], !rf.isNull {
            guard rf.objectValue != nil else { throw APIError.invalid("response_format must be an object", param: "response_format") }
            let t = rf["type"]?.stringValue ?? ""
            switch t {
            case "text": break
            case "json_object": found.append(("response_format", .jsonObject))
            case "json_schema":
                guard let js = rf["json_schema"], js.objectValue != nil else {
                    throw APIError.invalid("response_format json_schema needs a json_schema object", param: "response_format")
                }
                guard let schema = js["schema"] ?? js["json_schema"], !schema.isNull else {
                    throw APIError.invalid("response_format json_schema needs json_schema.schema", param: "response_format")
                }
                found.append(("response_format", .json(schema)))
            default:
                throw APIError.invalid("response_format type \(t.isEmpty ? "(missing)" : t) is not supported (text, json_object and json_schema are)", param: "response_format")
            }
        }
        if let so = body["structured_outputs"], !so.isNull {
            guard let o = so.objectValue else { throw APIError.invalid("structured_outputs must be an object", param: "structured_outputs") }
            var kinds: [(String, StructuredOutputs)] = []
            for (k, v) in o where !v.isNull {
                switch k {
                case "json": kinds.append((k, try json(v, param: "structured_outputs")))
                case "regex": kinds.append((k, .regex(try string(v, "structured_outputs.regex"))))
                case "choice": kinds.append((k, .choice(try choices(v, "structured_outputs.choice"))))
                case "grammar": kinds.append((k, .grammar(try string(v, "structured_outputs.grammar"))))
                case "json_object": if v.boolValue == true { kinds.append((k, .jsonObject)) }
                case "disable_fallback", "disable_additional_properties":
                    // Folio has one backend and never adds properties: these ask for what it does anyway.
                    if k == "disable_additional_properties" || v.boolValue != nil { continue }
                    throw APIError.invalid("structured_outputs.\(k) must be a boolean", param: "structured_outputs")
                case "disable_any_whitespace", "whitespace_pattern", "structural_tag":
                    if v.boolValue == false { continue }
                    throw APIError.invalid("structured_outputs.\(k) is not supported", param: "structured_outputs")
                default:
                    throw APIError.invalid("structured_outputs has an unknown field \(k)", param: "structured_outputs")
                }
            }
            try oneKind(kinds.map(\.0), param: "structured_outputs")
            found += kinds.map { ("structured_outputs", $0.1) }
        }
        for k in ["guided_json", "guided_regex", "guided_choice", "guided_grammar"] {
            guard let v = body[k], !v.isNull else { continue }
            switch k {
            case "guided_json": found.append((k, try json(v, param: k)))
            case "guided_regex": found.append((k, .regex(try string(v, k))))
            case "guided_choice": found.append((k, .choice(try choices(v, k))))
            default: found.append((k, .grammar(try string(v, k))))
            }
        }
        try oneKind(found.map(\.0), param: found.count > 1 ? found[1].0 : "")
        guard let (param, spec) = found.first else { return nil }
        do { _ = try spec.grammar() } catch let e as GrammarError { throw APIError.invalid(e.message, param: param) }
        return spec
    }

    /// vLLM's error when a request names more than one constraint (`labels`: what it named).
    static func oneKind(_ labels: [String], param: String) throws {
        guard labels.count <= 1 else {
            throw APIError.invalid("You can only use one kind of structured outputs constraint but multiple are specified: \(labels.joined(separator: ", "))", param: param)
        }
    }

    /// A schema object, or its JSON text (vLLM takes both).
    static func json(_ v: JSONValue, param: String) throws -> StructuredOutputs {
        if let s = v.stringValue {
            do { return .json(try JSONValue.parse(Data(s.utf8))) } catch { throw APIError.invalid("\(param): the JSON schema is not valid JSON", param: param) }
        }
        guard v.objectValue != nil || v.boolValue != nil else { throw APIError.invalid("\(param) must be a JSON schema object", param: param) }
        return .json(v)
    }

    static func string(_ v: JSONValue, _ name: String) throws -> String {
        guard let s = v.stringValue else { throw APIError.invalid("\(name) must be a string", param: name.split(separator: ".").first.map(String.init)) }
        return s
    }

    static func choices(_ v: JSONValue, _ name: String) throws -> [String] {
        guard let a = v.arrayValue, !a.isEmpty, a.allSatisfy({ $0.stringValue != nil }) else {
            throw APIError.invalid("\(name) must be a non-empty list of strings", param: name.split(separator: ".").first.map(String.init))
        }
        return a.map { $0.stringValue! }
    }
}

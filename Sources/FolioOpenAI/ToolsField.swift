import FolioGrammar
import FolioTools
import FolioWeights
import Foundation

/// OpenAI's `tool_choice`.
public enum ToolChoice: Sendable, Equatable {
    case none, auto, required
    case named(String)
}

/// A chat request's tools: what the template renders, what the model may call, and how calls are chosen.
public struct ToolRequest: Sendable {
    /// `tools` as sent (the chat template renders them).
    public var tools: JSONValue?
    public var choice: ToolChoice
    /// `parallel_tool_calls` (only `false` limits `required` to one call, as in vLLM).
    public var parallel: Bool?
    public var schemas: ToolSchemas

    /// The JSON Schema that holds the output to the calls for `required` and named choices (vLLM's
    /// `get_json_schema_from_tools`): a list of `{"name", "parameters"}` objects, or the named tool's parameters.
    public var forcedSchema: JSONValue? {
        func params(_ p: JSONValue?) -> JSONValue {
            if let p, let o = p.objectValue, !o.isEmpty { return p }
            return .object([("type", .string("object")), ("properties", .object([]))])
        }
        let fns = (tools?.arrayValue ?? []).compactMap { $0["function"] }
        switch choice {
        case .none, .auto: return nil
        case .named(let n): return params(fns.first { $0["name"]?.stringValue == n }?["parameters"])
        case .required:
            var defs: [(String, JSONValue)] = []
            let anyOf: [JSONValue] = fns.map { f in
                var p = params(f["parameters"])
                if case .object(var kv) = p, let i = kv.firstIndex(where: { $0.0 == "$defs" }) {
                    for d in kv[i].1.objectValue ?? [] where !defs.contains(where: { $0.0 == d.0 }) { defs.append(d) }
                    kv.remove(at: i)
                    p = .object(kv)
                }
                return .object([("properties", .object([("name", .object([("type", .string("string")),
                                                                          ("enum", .array([f["name"] ?? .null]))])),
                                                        ("parameters", p)])),
                                ("required", .array([.string("name"), .string("parameters")]))])
            }
            var s: [(String, JSONValue)] = [("type", .string("array")), ("minItems", .int(1)),
                                            ("items", .object([("type", .string("object")), ("anyOf", .array(anyOf))]))]
            if parallel == false { s.append(("maxItems", .int(1))) }
            if !defs.isEmpty { s.append(("$defs", .object(defs))) }
            return .object(s)
        }
    }
}

extension ToolRequest {
    /// For `auto` when a tool says `"strict": true`: the output stays free text, but a call written in the hermes
    /// format (`<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`) must name an offered tool and, for
    /// strict tools, match its parameters (other tools' arguments: any object), as vLLM's structural tags hold it.
    public var hermesStrictTags: TriggeredTags? {
        let fns = (tools?.arrayValue ?? []).compactMap { $0["function"] }
        guard choice == .auto, fns.contains(where: { $0["strict"]?.boolValue == true }) else { return nil }
        let anyObject = JSONValue.object([("type", .string("object"))])
        let tags = fns.compactMap { f -> TriggeredTags.Tag? in
            guard let name = f["name"]?.stringValue else { return nil }
            var quoted = ""
            JSONValue.quote(name, into: &quoted)
            let strict = f["strict"]?.boolValue == true
            let schema = strict ? (f["parameters"].flatMap { $0.objectValue?.isEmpty == false ? $0 : nil } ?? anyObject) : anyObject
            return .init(begin: "<tool_call>\n{\"name\": \(quoted), \"arguments\": ", schema: schema, end: "}\n</tool_call>")
        }
        return TriggeredTags(trigger: "<tool_call>", tags: tags, stopAfterFirst: parallel == false)
    }
}

/// `tools`, `tool_choice` and `parallel_tool_calls`, validated with vLLM's messages.
enum ToolsField {
    static let usage = #"Correct usage: `{"type": "function", "function": {"name": "my_function"}}`"#

    static func parse(_ body: JSONValue) throws -> ToolRequest {
        let tools = body["tools"].flatMap { $0.isNull ? nil : $0 }
        if let t = tools {
            guard let list = t.arrayValue else { throw APIError.invalid("tools must be a list of tools", param: "tools") }
            guard !list.isEmpty else {
                throw APIError.invalid("`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.", param: "tools")
            }
            for (i, tool) in list.enumerated() {
                guard tool["type"]?.stringValue == "function" else {
                    throw APIError.invalid("tools[\(i)].type must be \"function\"", param: "tools")
                }
                guard let f = tool["function"], f.objectValue != nil, let name = f["name"]?.stringValue, !name.isEmpty else {
                    throw APIError.invalid("tools[\(i)].function needs a name", param: "tools")
                }
                if let p = f["parameters"], !p.isNull, p.objectValue == nil {
                    throw APIError.invalid("tools[\(i)].function.parameters must be a JSON Schema object", param: "tools")
                }
            }
        }
        var choice: ToolChoice = tools == nil ? .none : .auto
        if let c = body["tool_choice"], !c.isNull {
            if c.stringValue == "none" {
                choice = .none
            } else {
                guard tools != nil else { throw APIError.invalid("When using `tool_choice`, `tools` must be set.", param: "tool_choice") }
                if let s = c.stringValue {
                    switch s {
                    case "auto": choice = .auto
                    case "required": choice = .required
                    default:
                        throw APIError.invalid(#"Invalid value for `tool_choice`: \#(s)! Only named tools, "none", "auto" or "required" are supported."#,
                                               param: "tool_choice")
                    }
                } else if c.objectValue != nil {
                    guard let f = c["function"], f.objectValue != nil else {
                        throw APIError.invalid("Invalid value for `function`: `\(c["function"].map(pythonish) ?? "None")` in `tool_choice`! \(usage)",
                                               param: "tool_choice.function")
                    }
                    guard let n = f["name"] else {
                        throw APIError.invalid("Expected field `name` in `function` in `tool_choice`! \(usage)", param: "tool_choice.function.name")
                    }
                    guard let name = n.stringValue, !name.isEmpty else {
                        throw APIError.invalid("Invalid `name` in `function`: `\(pythonish(n))` in `tool_choice`! \(usage)",
                                               param: "tool_choice.function.name")
                    }
                    guard tools!.arrayValue!.contains(where: { $0["function"]?["name"]?.stringValue == name }) else {
                        throw APIError.invalid("The tool specified in `tool_choice` does not match any of the specified `tools`", param: "tool_choice")
                    }
                    choice = .named(name)
                } else {
                    throw APIError.invalid(#"Invalid value for `tool_choice`: \#(c.jsonString)! Only named tools, "none", "auto" or "required" are supported."#,
                                           param: "tool_choice")
                }
            }
        }
        let parallel = try Fields(obj: body).bool("parallel_tool_calls")
        return ToolRequest(tools: tools, choice: choice, parallel: parallel, schemas: ToolSchemas(tools))
    }

    /// How Python prints a JSON value in vLLM's messages (`None`, `True`, `'text'`).
    static func pythonish(_ v: JSONValue) -> String {
        switch v {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .string(let s): return s
        default: return v.jsonString
        }
    }
}

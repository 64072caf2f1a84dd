import Foundation

/// `qwen3_xml` / `qwen3_coder` (Qwen3-Coder, Qwen3.5): XML calls
/// `<tool_call><function=NAME><parameter=KEY>VALUE</parameter>...</function></tool_call>`. Values are text, one
/// newline trimmed at each end, then typed by the tool's schema as vLLM does (`"1"` -> `1` for an integer). Read
/// with vLLM's state machine: text inside `<tool_call>` but outside a function is dropped, a stray `</think>` in
/// content is dropped, and content is trimmed when there are calls.
public struct Qwen3XMLToolParser: ToolCallParser {
    let tools: ToolSchemas
    public init(tools: ToolSchemas = .none) { self.tools = tools }

    enum State { case content, preamble, name, args, between }
    static let contentTags = ["<tool_call>", "<function=", "</think>"]

    struct Slot { var name = ""; var args = ""; var closed = false; var named = false }
    struct Scan { var content = ""; var slots: [Slot] = []; var state = State.content; var pending = "" }

    /// Runs the state machine over `text`. `pending` is the tail that may be the start of a tag (only meaningful
    /// while streaming).
    static func scan(_ text: String) -> Scan {
        var r = Scan()
        var rest = Substring(text)
        func next(_ tags: [String]) -> (Range<Substring.Index>, String)? {
            var best: (Range<Substring.Index>, String)?
            for t in tags { if let g = rest.range(of: t), best == nil || g.lowerBound < best!.0.lowerBound { best = (g, t) } }
            return best
        }
        while !rest.isEmpty {
            switch r.state {
            case .content:
                guard let (g, tag) = next(contentTags) else {
                    var tail = String(rest)
                    for t in contentTags {
                        let n = tail.partialOverlap(with: t)
                        if n > 0 { r.pending = tail.lastScalars(n); tail = tail.dropLastScalars(n); break }
                    }
                    r.content += tail; rest = ""; continue
                }
                r.content += rest[..<g.lowerBound]
                rest = rest[g.upperBound...]
                if tag == "<tool_call>" { r.slots.append(Slot()); r.state = .preamble }
                if tag == "<function=" { r.slots.append(Slot()); r.state = .name }
            case .preamble:
                guard let (g, tag) = next(["</tool_call>", "<function="]) else { rest = ""; continue }
                rest = rest[g.upperBound...]
                r.state = tag == "<function=" ? .name : .content
            case .name:
                guard let (g, tag) = next([">", "</function>"]) else { r.slots[r.slots.count - 1].name += rest; rest = ""; continue }
                r.slots[r.slots.count - 1].name += rest[..<g.lowerBound]
                r.slots[r.slots.count - 1].named = true
                rest = rest[g.upperBound...]
                if tag == ">" { r.state = .args } else { r.slots[r.slots.count - 1].closed = true; r.state = .between }
            case .args:
                guard let (g, _) = next(["</function>"]) else { r.slots[r.slots.count - 1].args += rest; rest = ""; continue }
                r.slots[r.slots.count - 1].args += rest[..<g.lowerBound]
                r.slots[r.slots.count - 1].closed = true
                rest = rest[g.upperBound...]
                r.state = .between
            case .between:
                guard let (g, tag) = next(["</tool_call>", "<tool_call>", "<function="]) else { rest = ""; continue }
                rest = rest[g.upperBound...]
                switch tag {
                case "</tool_call>": r.state = .content
                case "<tool_call>": r.slots.append(Slot()); r.state = .preamble
                default: r.slots.append(Slot()); r.state = .name
                }
            }
        }
        return r
    }

    /// vLLM's `_qwen3_arg_converter`: each complete `<parameter=KEY>VALUE</parameter>` (or one ended by the next
    /// parameter), keys as written after `=`, values with one newline trimmed at each end.
    static func arguments(_ raw: String) -> String {
        var params: [(String, PyJSON)] = []
        let s = Array(raw.unicodeScalars)
        var i = 0
        func skipSpace(_ k: inout Int) { while k < s.count, s[k].properties.isWhitespace { k += 1 } }
        func match(_ lit: String, at k: inout Int) -> Bool {
            let l = Array(lit.unicodeScalars)
            guard k + l.count <= s.count, Array(s[k..<(k + l.count)]) == l else { return false }
            k += l.count
            return true
        }
        /// `<\s*parameter\s*=\s*` at k.
        func paramOpen(_ k: Int) -> Int? {
            var j = k
            guard match("<", at: &j) else { return nil }
            skipSpace(&j)
            guard match("parameter", at: &j) else { return nil }
            skipSpace(&j)
            guard match("=", at: &j) else { return nil }
            skipSpace(&j)
            return j
        }
        /// `<\s*/\s*parameter\s*>` at k.
        func paramClose(_ k: Int) -> Int? {
            var j = k
            guard match("<", at: &j) else { return nil }
            skipSpace(&j)
            guard match("/", at: &j) else { return nil }
            skipSpace(&j)
            guard match("parameter", at: &j) else { return nil }
            skipSpace(&j)
            guard match(">", at: &j) else { return nil }
            return j
        }
        while i < s.count {
            guard let keyStart = paramOpen(i) else { i += 1; continue }
            guard let gt = s[keyStart...].firstIndex(of: ">") else { break }
            let key = String(String.UnicodeScalarView(s[keyStart..<gt]))
            var v = gt + 1
            var found: (valueEnd: Int, next: Int)?
            while v < s.count {
                if let e = paramClose(v) { found = (v, e); break }
                if paramOpen(v) != nil { found = (v, v); break }
                v += 1
            }
            guard let f = found else { i += 1; continue }
            var value = String(String.UnicodeScalarView(s[(gt + 1)..<f.valueEnd]))
            if value.hasPrefix("\n") { value.removeFirst() }
            if value.hasSuffix("\n") { value.removeLast() }
            if let at = params.firstIndex(where: { $0.0 == key }) { params[at].1 = .string(value) } else { params.append((key, .string(value))) }
            i = f.next
        }
        return PyJSON.object(params).dumps
    }

    func call(_ slot: Slot) -> ToolCall? {
        let name = slot.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { return nil }
        let args = slot.args.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "{}" : Self.arguments(slot.args)
        return ToolCall(name: name, arguments: SchemaCoercion.fix(args, parameters: tools.parameters[name]))
    }

    public func extract(_ text: String) -> ExtractedToolCalls {
        let r = Self.scan(text)
        let calls = r.slots.compactMap(call)
        var content = r.content + r.pending
        if !calls.isEmpty { content = content.trimmingCharacters(in: .whitespacesAndNewlines) }
        return ExtractedToolCalls(calls: calls, content: content.isEmpty ? nil : content)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        let r = Self.scan(text)
        var p = PartialToolCalls(content: r.slots.isEmpty ? trimmedEnd(r.content) : r.content.trimmingCharacters(in: .whitespacesAndNewlines))
        for slot in r.slots {
            guard slot.named || slot.closed else { break }
            // Arguments are typed by the schema once the function closes; until then only the name is certain.
            guard let c = call(slot) else { continue }
            p.calls.append(.init(name: c.name, arguments: slot.closed ? c.arguments : ""))
            if !slot.closed { break }
        }
        return p
    }
}

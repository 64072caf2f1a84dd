import FolioWeights

/// The part of `json.dumps(value, ensure_ascii=False)` that is already certain when only a prefix of a JSON text
/// has arrived: what a stream may send as tool-call arguments without ever taking it back. Strings are written as
/// their characters arrive; numbers and literals once something follows them (`1` may still become `12` or `1.5`).
/// Once the whole value has arrived the output is exactly `dumps` (except that a repeated key is written twice).
public struct StableJSON: Sendable {
    /// A member of the top-level object: its key and where its value's text lies in `output`.
    public struct Member: Sendable {
        public let key: String
        public let start: Int
        /// Set once the value is complete.
        public var end: Int?
    }

    /// The certain output, in Unicode scalars.
    public private(set) var output: [Unicode.Scalar] = []
    public private(set) var members: [Member] = []
    /// The whole value was read.
    public private(set) var complete = false
    /// The text is not JSON (more text cannot fix it).
    public private(set) var invalid = false
    /// Scalar offset just past the value (when complete).
    public private(set) var end = 0

    /// Reads the value starting at `start` of `scalars` (leading whitespace skipped).
    public init(_ scalars: [Unicode.Scalar], from start: Int = 0) {
        var r = JSONScanner(scalars: scalars, at: start)
        r.skipWS()
        do {
            try value(&r, depth: 0)
            complete = true
            end = r.i
        } catch JSONScanner.Failure.invalid {
            invalid = true
        } catch {}
    }

    public init(_ text: String) { self.init(Array(text.unicodeScalars)) }

    public var text: String { String(String.UnicodeScalarView(output)) }

    /// The certain text of top-level member `key`'s value, and whether it is complete.
    public func member(_ key: String) -> (text: String, complete: Bool)? {
        guard let m = members.first(where: { $0.key == key }) else { return nil }
        return (String(String.UnicodeScalarView(output[m.start..<(m.end ?? output.count)])), m.end != nil)
    }

    /// A complete string member's value (a tool's name is sent whole, never in pieces).
    public func completeString(_ key: String) -> String? {
        guard let m = member(key), m.complete else { return nil }
        return PyJSON.loads(m.text)?.stringValue
    }

    mutating func emit(_ s: String) { output.append(contentsOf: s.unicodeScalars) }

    mutating func value(_ r: inout JSONScanner, depth: Int) throws {
        guard depth < JSONScanner.maxDepth else { throw JSONScanner.Failure.invalid }
        switch try r.peek() {
        case "{":
            r.i += 1
            emit("{")
            r.skipWS()
            if try r.peek() == "}" { r.i += 1; emit("}"); return }
            while true {
                r.skipWS()
                guard try r.peek() == "\"" else { throw JSONScanner.Failure.invalid }
                let key = try r.string()
                var quoted = ""
                JSONValue.quote(key, into: &quoted)
                r.skipWS()
                guard try r.peek() == ":" else { throw JSONScanner.Failure.invalid }
                r.i += 1
                emit(quoted + ": ")
                r.skipWS()
                if depth == 0 { members.append(Member(key: key, start: output.count)) }
                try value(&r, depth: depth + 1)
                if depth == 0 { members[members.count - 1].end = output.count }
                r.skipWS()
                let c = try r.peek(); r.i += 1
                if c == "," { emit(", "); continue }
                if c == "}" { emit("}"); return }
                throw JSONScanner.Failure.invalid
            }
        case "[":
            r.i += 1
            emit("[")
            r.skipWS()
            if try r.peek() == "]" { r.i += 1; emit("]"); return }
            while true {
                r.skipWS()
                try value(&r, depth: depth + 1)
                r.skipWS()
                let c = try r.peek(); r.i += 1
                if c == "," { emit(", "); continue }
                if c == "]" { emit("]"); return }
                throw JSONScanner.Failure.invalid
            }
        case "\"":
            emit("\"")
            var piece = ""
            defer { output.append(contentsOf: piece.unicodeScalars) }
            try r.string { JSONValue.appendEscaped($0, into: &piece) }
            piece += "\""
        case "-", "0"..."9":
            guard !(r.s[r.i] == "-" && r.i + 1 < r.s.count && r.s[r.i + 1] == "I") else { emit(try r.value(depth: depth).dumps); return }
            // A number is certain once something follows it ("1" may still become "12" or "1.5").
            let (v, complete) = try r.number()
            guard complete else { throw JSONScanner.Failure.incomplete }
            emit(v.dumps)
        default:
            emit(try r.value(depth: depth).dumps)  // a literal: certain once read
        }
    }
}

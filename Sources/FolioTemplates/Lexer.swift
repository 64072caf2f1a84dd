import Foundation

/// Tokens of a Jinja template: text between tags, tag delimiters, and expression tokens inside tags.
enum Token: Equatable {
    case text(String)
    case varBegin, varEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case int(Int)
    case float(Double)
    case op(String)
    case eof
}

/// Splits template source into tokens with jinja2's whitespace rules as Hugging Face configures them:
/// `trim_blocks` (the newline after a block or comment tag is dropped), `lstrip_blocks` (spaces and tabs before a
/// block or comment tag at the start of a line are dropped), and `-`/`+` modifiers on tags.
struct Lexer {
    let src: [UInt8]
    var i = 0
    var tokens: [(Token, Int)] = []  // token and line
    var line = 1
    let trimBlocks = true
    let lstripBlocks = true

    init(_ source: String) {
        // jinja2's default keep_trailing_newline=False: one trailing newline of the source is dropped.
        var bytes = Array(source.utf8)
        if bytes.last == 0x0A { bytes.removeLast(); if bytes.last == 0x0D { bytes.removeLast() } } else if bytes.last == 0x0D { bytes.removeLast() }
        src = bytes
    }

    static func tokenize(_ source: String) throws -> [(Token, Int)] {
        var l = Lexer(source)
        try l.run()
        return l.tokens
    }

    func at(_ p: Int, _ s: String) -> Bool {
        let u = Array(s.utf8)
        guard p + u.count <= src.count else { return false }
        for k in 0..<u.count where src[p + k] != u[k] { return false }
        return true
    }

    func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C }

    mutating func emitText(_ bytes: ArraySlice<UInt8>) {
        if !bytes.isEmpty { tokens.append((.text(String(decoding: bytes, as: UTF8.self)), line)) }
        line += bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    mutating func run() throws {
        var lineStarting = true
        var stripNext = false  // a "-" on the previous tag's end
        while i < src.count {
            // Find the next tag start.
            var j = i
            var kind: UInt8 = 0
            while j + 1 < src.count {
                if src[j] == UInt8(ascii: "{"), src[j + 1] == UInt8(ascii: "{") || src[j + 1] == UInt8(ascii: "%") || src[j + 1] == UInt8(ascii: "#") {
                    kind = src[j + 1]
                    break
                }
                j += 1
            }
            if kind == 0 { j = src.count }
            var text = src[i..<j]
            if stripNext { while let f = text.first, isSpace(f) { text = text.dropFirst() } }
            stripNext = false
            if kind == 0 { emitText(text); i = j; break }
            let modifier: UInt8? = j + 2 < src.count && (src[j + 2] == UInt8(ascii: "-") || src[j + 2] == UInt8(ascii: "+")) ? src[j + 2] : nil
            if modifier == UInt8(ascii: "-") {
                while let l = text.last, isSpace(l) { text = text.dropLast() }
            } else if lstripBlocks, kind != UInt8(ascii: "{"), modifier != UInt8(ascii: "+") {
                let lpos = (text.lastIndex(of: 0x0A).map { $0 + 1 }) ?? text.startIndex
                if lpos > text.startIndex || lineStarting {
                    if text[lpos...].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { text = text[..<lpos] }
                }
            }
            emitText(text)
            i = j + 2 + (modifier != nil ? 1 : 0)
            if kind == UInt8(ascii: "#") {
                guard let end = find("#}", from: i) else { throw TemplateError.syntax("unterminated comment (line \(line))") }
                let minus = end > i && src[end - 1] == UInt8(ascii: "-")
                let plus = end > i && src[end - 1] == UInt8(ascii: "+")
                line += src[i..<end].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                i = end + 2
                lineStarting = finishBlockEnd(minus: minus, plus: plus, stripNext: &stripNext)
                continue
            }
            let isBlock = kind == UInt8(ascii: "%")
            tokens.append((isBlock ? .blockBegin : .varBegin, line))
            let startCount = tokens.count
            let (minus, plus) = try lexTag(block: isBlock)
            if isBlock, tokens.count == startCount + 2, case .name("raw") = tokens[startCount].0 {
                // {% raw %}...{% endraw %}: the body is text, untouched.
                tokens.removeLast(3)
                if minus { while i < src.count, isSpace(src[i]) { i += 1 } } else if trimBlocks, !plus, i < src.count, src[i] == 0x0A { i += 1 }
                guard let (bodyEnd, tagEnd, endMinus, stripBody) = findEndRaw(from: i) else { throw TemplateError.syntax("missing endraw (line \(line))") }
                var body = src[i..<bodyEnd]
                if stripBody { while let l = body.last, isSpace(l) { body = body.dropLast() } }
                emitText(body)
                i = tagEnd
                lineStarting = finishBlockEnd(minus: endMinus, plus: false, stripNext: &stripNext)
                continue
            }
            if isBlock { lineStarting = finishBlockEnd(minus: minus, plus: plus, stripNext: &stripNext) } else {
                stripNext = minus
                lineStarting = false
            }
        }
        tokens.append((.eof, line))
    }

    /// After `%}` or `#}`: `-` strips the next text's leading whitespace; otherwise trim_blocks drops one newline.
    /// Returns whether the next text starts a line.
    mutating func finishBlockEnd(minus: Bool, plus: Bool, stripNext: inout Bool) -> Bool {
        if minus { stripNext = true; return false }
        if trimBlocks, !plus, i < src.count, src[i] == 0x0A { i += 1; line += 1; return true }
        return false
    }

    func find(_ s: String, from p: Int) -> Int? {
        var k = p
        while k < src.count { if at(k, s) { return k }; k += 1 }
        return nil
    }

    /// Finds `{% endraw %}` (with optional -/+ modifiers): (end of body, end of tag, tag ends with -, tag starts with -).
    func findEndRaw(from p: Int) -> (Int, Int, Bool, Bool)? {
        var k = p
        while let s = find("{%", from: k) {
            var q = s + 2
            let startMinus = q < src.count && src[q] == UInt8(ascii: "-")
            if q < src.count, src[q] == UInt8(ascii: "-") || src[q] == UInt8(ascii: "+") { q += 1 }
            while q < src.count, isSpace(src[q]) { q += 1 }
            if at(q, "endraw") {
                q += 6
                while q < src.count, isSpace(src[q]) { q += 1 }
                var minus = false
                if q < src.count, src[q] == UInt8(ascii: "-") || src[q] == UInt8(ascii: "+") { minus = src[q] == UInt8(ascii: "-"); q += 1 }
                if at(q, "%}") { return (s, q + 2, minus, startMinus) }
            }
            k = s + 2
        }
        return nil
    }

    /// Lexes expression tokens up to `%}` or `}}`; returns the end's (-, +) modifiers.
    mutating func lexTag(block: Bool) throws -> (Bool, Bool) {
        let end = block ? "%}" : "}}"
        var depth = 0
        while true {
            while i < src.count, isSpace(src[i]) { if src[i] == 0x0A { line += 1 }; i += 1 }
            guard i < src.count else { throw TemplateError.syntax("unterminated tag (line \(line))") }
            if depth == 0 {
                if at(i, end) { i += 2; tokens.append((block ? .blockEnd : .varEnd, line)); return (false, false) }
                if (src[i] == UInt8(ascii: "-") || src[i] == UInt8(ascii: "+")), at(i + 1, end) {
                    let m = src[i]
                    i += 3
                    tokens.append((block ? .blockEnd : .varEnd, line))
                    return (m == UInt8(ascii: "-"), m == UInt8(ascii: "+"))
                }
            }
            let c = src[i]
            if c == UInt8(ascii: "_") || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) {
                let s = i
                while i < src.count, src[i] == UInt8(ascii: "_") || (src[i] >= 48 && src[i] <= 57) || (src[i] >= 65 && src[i] <= 90) || (src[i] >= 97 && src[i] <= 122) { i += 1 }
                tokens.append((.name(String(decoding: src[s..<i], as: UTF8.self)), line))
            } else if c >= 48 && c <= 57 {
                let s = i
                var isFloat = false
                while i < src.count, (src[i] >= 48 && src[i] <= 57) || src[i] == UInt8(ascii: "_") { i += 1 }
                if i + 1 < src.count, src[i] == UInt8(ascii: "."), src[i + 1] >= 48, src[i + 1] <= 57 {
                    isFloat = true
                    i += 1
                    while i < src.count, (src[i] >= 48 && src[i] <= 57) || src[i] == UInt8(ascii: "_") { i += 1 }
                }
                if i < src.count, src[i] == UInt8(ascii: "e") || src[i] == UInt8(ascii: "E") {
                    var k = i + 1
                    if k < src.count, src[k] == UInt8(ascii: "+") || src[k] == UInt8(ascii: "-") { k += 1 }
                    if k < src.count, src[k] >= 48, src[k] <= 57 {
                        isFloat = true
                        i = k
                        while i < src.count, src[i] >= 48, src[i] <= 57 { i += 1 }
                    }
                }
                let text = String(decoding: src[s..<i], as: UTF8.self).replacingOccurrences(of: "_", with: "")
                if isFloat { tokens.append((.float(Double(text) ?? 0), line)) } else {
                    guard let v = Int(text) else { throw TemplateError.syntax("integer \(text) too large (line \(line))") }
                    tokens.append((.int(v), line))
                }
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                tokens.append((.string(try lexString(quote: c)), line))
            } else {
                let two = i + 1 < src.count ? String(decoding: src[i...(i + 1)], as: UTF8.self) : ""
                if ["//", "**", "==", "!=", "<=", ">="].contains(two) {
                    tokens.append((.op(two), line)); i += 2
                } else {
                    let one = String(UnicodeScalar(c))
                    guard "+-*/%~|.,:()[]{}=<>!".contains(one) else {
                        throw TemplateError.syntax("unexpected character '\(one)' (line \(line))")
                    }
                    if "([{".contains(one) { depth += 1 }
                    if ")]}".contains(one) { depth -= 1 }
                    tokens.append((.op(one), line)); i += 1
                }
            }
        }
    }

    mutating func lexString(quote: UInt8) throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < src.count else { throw TemplateError.syntax("unterminated string (line \(line))") }
            let c = src[i]
            if c == quote { i += 1; break }
            if c == UInt8(ascii: "\\"), i + 1 < src.count {
                let e = src[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(e)
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let n = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
                    guard i + n <= src.count, let v = UInt32(String(decoding: src[i..<(i + n)], as: UTF8.self), radix: 16),
                          let u = Unicode.Scalar(v) else { throw TemplateError.syntax("bad escape in string (line \(line))") }
                    out += Array(String(Character(u)).utf8)
                    i += n
                case 0x0A: line += 1
                default: out.append(UInt8(ascii: "\\")); out.append(e)
                }
                continue
            }
            if c == 0x0A { line += 1 }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

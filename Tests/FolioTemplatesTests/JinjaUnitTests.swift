import FolioTemplates
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// One template per statement, operator, filter, test and method, with the output Python jinja2 gives
/// (Tests/Fixtures/jinja-unit.json, made by scripts/make_jinja_unit_goldens.py).
@Suite("Jinja features match jinja2")
struct JinjaUnitTests {
    static let fixture: JSONValue = try! JSONValue.parse(file: Fixtures.path("jinja-unit.json"))
    static var names: [String] { fixture["cases"]!.arrayValue!.compactMap { $0["name"]?.stringValue } }

    @Test("case", arguments: names)
    func feature(name: String) throws {
        let c = try #require(Self.fixture["cases"]!.arrayValue!.first { $0["name"]?.stringValue == name })
        var ctx: [String: Value] = [:]
        for (k, v) in Self.fixture["context"]!.objectValue! { ctx[k] = Value(json: v) }
        let src = c["template"]!.stringValue!
        let result = Result { try Template(src).render(ctx, now: ChatTemplateFixtureTests.fixedNow) }
        if let expected = c["output"]?.stringValue {
            let got = try result.get()
            #expect(got == expected, "\(name): \(src)")
        } else {
            let err = c["error"]!.stringValue!
            #expect(throws: (any Error).self, "\(name) should fail like jinja2: \(err)") { try result.get() }
            if err.hasPrefix("TemplateError: ") {
                #expect(throws: TemplateError.raised(String(err.dropFirst("TemplateError: ".count)))) { try result.get() }
            }
        }
    }
}

@Suite("Templates are bounded and never crash")
struct TemplateSafetyTests {
    @Test("infinite-ish loops, deep recursion and huge output end in errors")
    func limits() throws {
        #expect(throws: TemplateError.self) { try Template("{% for i in range(100000000) %}x{% endfor %}").render([:]) }
        #expect(throws: TemplateError.self) {
            try Template("{% for a in range(2000) %}{% for b in range(2000) %}{% endfor %}{% endfor %}").render([:])
        }
        #expect(throws: TemplateError.self) { try Template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").render([:]) }
        var t = try Template("{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}")
        t.limits.maxOutputBytes = 1 << 20
        #expect(throws: TemplateError.self) { try t.render([:]) }
    }

    @Test("no file or environment access")
    func sandbox() {
        #expect(throws: TemplateError.self) { try Template("{% include 'x.j2' %}").render([:]) }
        #expect(throws: TemplateError.self) { try Template("{% import 'x' as y %}").render([:]) }
        #expect(throws: TemplateError.self) { try Template("{{ ''.__class__ }}{{ x.__dict__.y }}").render([:]) }
    }

    @Test("random and truncated template text never crashes or hangs")
    func fuzz() throws {
        let sources = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("chat-templates/templates")).sorted()
            .map { try String(contentsOfFile: Fixtures.path("chat-templates/templates/\($0)"), encoding: .utf8) }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("{}%#-+()[]|.,:'\"=<>!~ abcxyz0123456789\n\tifendforsetmacroinnotandor")
        var rendered = 0
        let ctx: [String: Value] = ["messages": .array([.dict(OrderedDict([("role", .string("user")), ("content", .string("hi"))]))])]
        for (i, src) in sources.enumerated() {
            let bytes = Array(src.utf8)
            for cut in [bytes.count / 3, bytes.count / 2, bytes.count * 9 / 10] {
                let s = String(decoding: bytes[..<cut], as: UTF8.self)
                if let t = try? Template(s), (try? t.render(ctx)) != nil { rendered += 1 }
            }
            // Mutations: random characters spliced in.
            for _ in 0..<5 {
                var chars = Array(src)
                for _ in 0..<4 {
                    let at = Int.random(in: 0...chars.count, using: &rng)
                    chars.insert(alphabet.randomElement(using: &rng)!, at: at)
                }
                if let t = try? Template(String(chars)) { _ = try? t.render(ctx) }
            }
            if i > 60 { break }
        }
        for _ in 0..<500 {
            let s = String((0..<Int.random(in: 0..<60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            if let t = try? Template(s) { _ = try? t.render(ctx) }
        }
        #expect(rendered >= 0)
    }
}

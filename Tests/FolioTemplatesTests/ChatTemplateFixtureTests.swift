import FolioTemplates
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// 49 real chat templates rendered by Python jinja2 3.1.6 with Hugging Face's settings for 7 conversations each
/// (Tests/Fixtures/chat-templates, made by render_reference.py). Outputs must match byte for byte; error cases must
/// fail, with the same message for `raise_exception`.
@Suite("Real chat templates render like jinja2")
struct ChatTemplateFixtureTests {
    static let fixedNow: Date = {
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (2024, 7, 26, 12, 0, 0)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        return cal.date(from: c)!
    }()

    static let fixture: JSONValue = try! JSONValue.parse(file: Fixtures.path("chat-templates/expected.json"))

    static var names: [String] { fixture.objectValue!.map(\.0) }

    @Test("every recorded case", arguments: names)
    func renders(name: String) throws {
        let entry = try #require(Self.fixture[name])
        let source = try #require(entry["template"]?.stringValue)
        var failures: [String] = []
        let template: Template
        do { template = try Template(source) } catch {
            Issue.record("\(name) does not parse: \(error)")
            return
        }
        for c in entry["cases"]?.arrayValue ?? [] {
            let caseName = c["case"]?.stringValue ?? "?"
            var ctx: [String: Value] = [:]
            for (k, v) in c["context"]?.objectValue ?? [] { ctx[k] = Value(json: v) }
            let result = Result { try template.render(ctx, now: Self.fixedNow) }
            if let expected = c["output"]?.stringValue {
                switch result {
                case .success(let got):
                    if got != expected { failures.append("\(caseName): output differs\n--- got\n\(got.debugDescription)\n--- expected\n\(expected.debugDescription)") }
                case .failure(let e): failures.append("\(caseName): error \(e)")
                }
            } else if let err = c["error"]?.stringValue {
                switch result {
                case .success: failures.append("\(caseName): rendered, expected error \(err)")
                case .failure(let e):
                    if err.hasPrefix("TemplateError: ") {
                        let msg = String(err.dropFirst("TemplateError: ".count))
                        if e as? TemplateError != .raised(msg) { failures.append("\(caseName): error \(e), expected \(err)") }
                    }
                }
            }
        }
        for f in failures.prefix(3) { print("TEMPLATE \(name) \(f.prefix(3000))") }
        #expect(failures.isEmpty, "\(name): \(failures.count) failing cases")
    }
}

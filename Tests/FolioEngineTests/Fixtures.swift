import Foundation

/// Test fixtures live in Tests/Fixtures (copied from the project's shared references; see its README).
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures").path
    }()
    static func path(_ rel: String) -> String { root + "/" + rel }
}

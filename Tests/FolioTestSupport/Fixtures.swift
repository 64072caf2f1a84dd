import FolioWeights
import Foundation

/// Test fixtures live in Tests/Fixtures (copied from the project's shared references; see its README).
public enum Fixtures {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures").path
    }()
    public static func path(_ rel: String) -> String { root + "/" + rel }
}

/// Real models fetched by scripts/fetch-models.sh (into $FOLIO_MODELS or ./models).
public enum RealModels {
    public static let dir: String = ProcessInfo.processInfo.environment["FOLIO_MODELS"]
        ?? URL(fileURLWithPath: Fixtures.root).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models").path
    public static func path(_ name: String) throws -> String {
        let p = dir + "/" + name
        guard FileManager.default.fileExists(atPath: p) else {
            throw FolioError.missing(path: p, what: "model file: run scripts/fetch-models.sh --all")
        }
        return p
    }
    public static var smol: String { get throws { try path("smollm2-135m-instruct-q4_1.gguf") } }
    public static var gemma: String { get throws { try path("gemma-3-270m-q4_k_m.gguf") } }
}

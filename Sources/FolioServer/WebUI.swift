import Foundation
import HTTPTypes
import Hummingbird

/// The chat page (`GET /` and its assets under `/webui/`), compiled into the binary from Sources/FolioServer/WebUI.
/// The page is public (it holds no data; its API calls carry the key the user enters). Its Content-Security-Policy
/// allows only these same-origin scripts and styles and same-origin fetches, so even a renderer bug could not run
/// script that a model wrote.
enum WebUI {
    struct Asset: Sendable {
        let contentType: String
        let bytes: ByteBuffer
    }

    static let assets: [String: Asset] = [
        "/": Asset(contentType: "text/html; charset=utf-8", bytes: ByteBuffer(bytes: PackageResources.index_html)),
        "/webui/chat.css": Asset(contentType: "text/css; charset=utf-8", bytes: ByteBuffer(bytes: PackageResources.chat_css)),
        "/webui/chat.js": Asset(contentType: "text/javascript; charset=utf-8", bytes: ByteBuffer(bytes: PackageResources.chat_js)),
        "/webui/markdown.js": Asset(contentType: "text/javascript; charset=utf-8", bytes: ByteBuffer(bytes: PackageResources.markdown_js)),
    ]

    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func response(_ asset: Asset) -> Response {
        var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "no-cache", .contentSecurityPolicy: contentSecurityPolicy]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.bytes))
    }

    /// Adds the page's routes.
    static func add<Context: RequestContext>(to router: Router<Context>) {
        for (path, asset) in assets {
            router.get(RouterPath(path)) { _, _ in response(asset) }
        }
    }
}

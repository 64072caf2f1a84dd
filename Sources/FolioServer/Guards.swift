import FolioEngine
import FolioOpenAI
import Foundation
import HTTPTypes
import Hummingbird

/// Equality of two secrets in time that depends only on their lengths, never on where they first differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
    return diff == 0
}

/// Turns every error a route throws (Hummingbird's 404/405/413, `APIError`, anything else) into the OpenAI error
/// object with the right status, so no client ever sees an empty or HTML error body.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do { return try await next(request, context) } catch {
            return OpenAIServer.error(Self.apiError(error, request))
        }
    }

    static func apiError(_ error: any Error, _ request: Request) -> APIError {
        if let e = error as? APIError { return e }
        if let e = error as? any HTTPResponseError {
            switch e.status.code {
            case 404: return APIError(status: 404, message: "Not Found: \(request.method) \(request.uri.path)")
            case 405: return APIError(status: 405, message: "Method Not Allowed: \(request.method) \(request.uri.path)", type: "MethodNotAllowed")
            case 413: return APIError(status: 413, message: "the request body is too large", type: "RequestEntityTooLarge")
            default: return APIError(status: e.status.code, message: e.status.reasonPhrase)
            }
        }
        return APIError.from(error)
    }
}

/// Bytes of request bodies being read at once: a request reserves its size before its body is read, and gets a 429
/// when the budget is spent (so many large uploads cannot exhaust memory together).
struct BodyBudget: Sendable {
    let limit: Int
    let used = Locked(0)

    func reserve(_ n: Int) -> Bool {
        used.withLock { used in
            guard used + n <= limit else { return false }
            used += n
            return true
        }
    }

    func release(_ n: Int) { used.withLock { $0 -= n } }
}

import FolioWeights

/// An OpenAI-style error: HTTP status and the `{"error": {...}}` body vLLM returns.
public struct APIError: Error, Sendable {
    public let status: Int
    public let message: String
    public let type: String
    public let param: String?
    public let code: Int?

    public init(status: Int, message: String, type: String? = nil, param: String? = nil) {
        self.status = status
        self.message = message
        self.type = type ?? (status == 401 ? "Unauthorized" : status == 404 ? "NotFoundError" : status == 429 ? "TooManyRequests"
            : status >= 500 ? "InternalServerError" : "BadRequestError")
        self.param = param
        code = status
    }

    public static func invalid(_ message: String, param: String? = nil) -> APIError { APIError(status: 400, message: message, param: param) }

    public var body: JSONValue {
        .object([("error", .object([("message", .string(message)), ("type", .string(type)),
                                    ("param", param.map { .string($0) } ?? .null), ("code", code.map { .int($0) } ?? .null)]))])
    }

    /// Maps engine and template errors to 400s (bad input never becomes a 500).
    public static func from(_ e: any Error) -> APIError {
        if let a = e as? APIError { return a }
        if let f = e as? FolioError {
            if case .invalidArgument(let name, let m) = f { return .invalid("\(name) \(m)", param: name) }
            return APIError(status: 400, message: f.description)
        }
        return APIError(status: 400, message: "\(e)")
    }
}

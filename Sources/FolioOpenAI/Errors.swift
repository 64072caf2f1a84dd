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
            : status == 503 ? "ServiceUnavailable" : status >= 500 ? "InternalServerError" : "BadRequestError")
        self.param = param
        code = status
    }

    public static func invalid(_ message: String, param: String? = nil) -> APIError { APIError(status: 400, message: message, param: param) }

    public var body: JSONValue {
        .object([("error", .object([("message", .string(message)), ("type", .string(type)),
                                    ("param", param.map { .string($0) } ?? .null), ("code", code.map { .int($0) } ?? .null)]))])
    }

    /// Maps errors to statuses: bad input (`FolioError.invalidArgument`, template errors) is a 400, a request that
    /// failed inside the engine and any other fault a 500.
    public static func from(_ e: any Error) -> APIError {
        if let a = e as? APIError { return a }
        if let f = e as? FolioError, case .invalidArgument(let name, let m) = f {
            // Whole sentences (vLLM's messages) stand alone; short ones follow the field name.
            let full = m.first?.isUppercase == true || m.hasPrefix(name)
            return .invalid(full ? m : "\(name) \(m)", param: name)
        }
        return APIError(status: 500, message: "\(e)")
    }
}

/// Every error Folio reports to a user: each case says which file, field or limit is at fault.
public enum FolioError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A file could not be opened or mapped.
    case io(path: String, message: String)
    /// A weight, config or tokenizer file is malformed: `problem` says what is wrong where.
    case malformedFile(path: String, problem: String)
    /// A tensor type, architecture or tokenizer model Folio does not implement.
    case unsupported(path: String, what: String)
    /// A required tensor or config key is missing.
    case missing(path: String, what: String)
    /// An argument a user passed is invalid.
    case invalidArgument(name: String, message: String)

    public var description: String {
        switch self {
        case .io(let path, let message): return "\(path): \(message)"
        case .malformedFile(let path, let problem): return "\(path): malformed file: \(problem)"
        case .unsupported(let path, let what): return "\(path): unsupported \(what)"
        case .missing(let path, let what): return "\(path): missing \(what)"
        case .invalidArgument(let name, let message): return "invalid \(name): \(message)"
        }
    }
}

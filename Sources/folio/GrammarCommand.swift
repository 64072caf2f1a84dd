import ArgumentParser
import FolioEngine
import FolioGrammar
import FolioTokenizers
import FolioWeights
import Foundation

struct GrammarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grammar", abstract: "Structured-output grammars.",
                                                    subcommands: [Mask.self])

    struct Mask: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Allowed next tokens after a prefix: {\"allowed\": [ids], \"accepting\": bool}.",
            discussion: "With --each-step, one line per prefix length (0 ... n tokens), for comparing whole walks.")
        @Option(help: "GGUF file or Hugging Face model folder (its tokenizer).") var model: String
        @Option(help: "JSON Schema file.") var jsonSchema: String?
        @Option(help: "Regular expression the output must match.") var regex: String?
        @Option(help: "Comma-separated choices.") var choice: String?
        @Option(help: "EBNF grammar file (GBNF / xgrammar dialect, start rule root).") var grammar: String?
        @Flag(help: "Any JSON object (response_format json_object).") var jsonObject = false
        @Option(help: "Text the output starts with (tokenized without special tokens).") var prefix: String?
        @Option(help: "Comma-separated token ids the output starts with.") var prefixTokenIds: String?
        @Flag(help: "Print the mask after every prefix length, one JSON line each.") var eachStep = false

        func spec() throws -> StructuredOutputs {
            var specs: [StructuredOutputs] = []
            if let f = jsonSchema { specs.append(.json(try JSONValue.parse(file: f))) }
            if let r = regex { specs.append(.regex(r)) }
            if let c = choice { specs.append(.choice(c.split(separator: ",", omittingEmptySubsequences: false).map(String.init))) }
            if let f = grammar {
                guard let d = FileManager.default.contents(atPath: f) else { throw FolioError.io(path: f, message: "cannot read") }
                specs.append(.grammar(String(decoding: d, as: UTF8.self)))
            }
            if jsonObject { specs.append(.jsonObject) }
            guard specs.count == 1 else {
                throw FolioError.invalidArgument(name: "--json-schema", message: "give exactly one of --json-schema, --regex, --choice, --grammar, --json-object")
            }
            return specs[0]
        }

        func run() throws {
            try Folio.run {
                let s = try spec()
                let tok = try Tokenizer.load(modelPath: model)
                var ids: [Int32] = []
                if let p = prefixTokenIds { ids = try parseIds(p, name: "--prefix-token-ids") } else if let t = prefix { ids = tok.encode(t, addSpecialTokens: false) }
                let compiled: CompiledGrammar
                do { compiled = try CompiledGrammar(s.grammar(), vocabulary: .of(tok)) } catch let e as GrammarError {
                    throw FolioError.invalidArgument(name: "grammar", message: e.message)
                }
                var stops = tok.eogIds
                if let e = tok.eosId { stops.insert(e) }
                let stopIds = stops.sorted()
                var m = compiled.matcher()
                func line() {
                    emit(.object([("allowed", .ints(m.allowedTokens(stopIds: stopIds))), ("accepting", .bool(m.isAccepting))]))
                }
                for (i, t) in ids.enumerated() {
                    if eachStep { line() }
                    guard m.accept(t, stopIds: stopIds) else {
                        throw FolioError.invalidArgument(name: "--prefix", message: "token \(t) at position \(i) (\(String(reflecting: tok.token(t) ?? ""))) is not allowed by the grammar")
                    }
                }
                line()
            }
        }
    }
}

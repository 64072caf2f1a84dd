import ArgumentParser
import FolioEngine
import FolioGrammar
import FolioModels
import FolioTemplates
import FolioTokenizers
import FolioWeights
import Foundation

extension Bench {
    /// Token-mask speed along given walks (Benchmarks/structured_outputs.py makes them with xgrammar and times
    /// xgrammar on the same steps).
    struct Grammar: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grammar compile time and per-step token-mask time along token walks.",
            discussion: "--walks: a JSON list of {\"spec\": {\"json\" | \"regex\" | \"grammar\" | \"choice\": ...}, \"tokens\": [ids]}. Each walk is timed twice: cold (a fresh compile, the mask cache filled as states are met) and warm (the same compiled grammar again).")
        @Option(help: "GGUF file or Hugging Face model folder (its tokenizer).") var model: String
        @Option(help: "JSON file of walks.") var walks: String

        func run() throws {
            try Folio.run {
                let tok = try Tokenizer.load(modelPath: model)
                let vocab = TokenVocabulary.of(tok)
                var stops = tok.eogIds
                if let e = tok.eosId { stops.insert(e) }
                let stopIds = stops.sorted()
                guard let list = try JSONValue.parse(file: walks).arrayValue else { throw FolioError.malformedFile(path: walks, problem: "not a JSON list") }
                var compileMs: [Double] = [], cold: [Double] = [], warm: [Double] = []
                var perCase: [JSONValue] = []
                var bits: [UInt64] = []
                var parted = 0
                for (i, w) in list.enumerated() {
                    guard let spec = w["spec"], let tokens = w["tokens"]?.arrayValue else { throw FolioError.malformedFile(path: walks, problem: "walk \(i) needs spec and tokens") }
                    let so: StructuredOutputs
                    if let j = spec["json"] { so = .json(j) } else if let r = spec["regex"]?.stringValue { so = .regex(r) } else if let g = spec["grammar"]?.stringValue { so = .grammar(g) } else if let c = spec["choice"]?.arrayValue { so = .choice(c.compactMap(\.stringValue)) } else { throw FolioError.malformedFile(path: walks, problem: "walk \(i): unknown spec") }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let g: CompiledGrammar
                    do { g = try CompiledGrammar(so.grammar(), vocabulary: vocab) } catch let e as GrammarError { throw FolioError.invalidArgument(name: "walk \(i)", message: e.message) }
                    let c = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                    compileMs.append(c)
                    var caseCold: [Double] = [], caseWarm: [Double] = []
                    for pass in 0..<2 {
                        var m = g.matcher()
                        for t in tokens.map({ Int32($0.intValue ?? -1) }) + [-1] {
                            let s = DispatchTime.now().uptimeNanoseconds
                            m.fillMask(&bits, stopIds: stopIds)
                            let us = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e3
                            if pass == 0 { caseCold.append(us) } else { caseWarm.append(us) }
                            if t < 0 { break }
                            // Where the walk's maker allows a token Folio's language does not (the differences
                            // README lists), the walk ends there.
                            guard t >= 0, Int(t) >> 6 < bits.count, bits[Int(t) >> 6] >> UInt64(t & 63) & 1 == 1, m.accept(t, stopIds: stopIds) else {
                                if pass == 0 { parted += 1 }
                                break
                            }
                        }
                    }
                    cold += caseCold
                    warm += caseWarm
                    perCase.append(.object([("compile_ms", .number(c)), ("steps", .int(caseCold.count)),
                                            ("mask_us_cold_p50", .number(percentile(caseCold, 0.5))), ("mask_us_warm_p50", .number(percentile(caseWarm, 0.5)))]))
                }
                guard !cold.isEmpty else { throw FolioError.malformedFile(path: walks, problem: "no walks") }
                emit(.object([
                    ("walks", .int(list.count)), ("walks_parted", .int(parted)), ("steps", .int(cold.count)),
                    ("compile_ms_p50", .number(percentile(compileMs, 0.5))), ("compile_ms_max", .number(compileMs.max()!)),
                    ("mask_us_cold_p50", .number(percentile(cold, 0.5))), ("mask_us_cold_p99", .number(percentile(cold, 0.99))),
                    ("mask_us_warm_p50", .number(percentile(warm, 0.5))), ("mask_us_warm_p99", .number(percentile(warm, 0.99))),
                    ("per_walk", .array(perCase)),
                ]))
            }
        }
    }

    /// Throughput of JSON-schema requests against the same requests unconstrained, with the same output lengths.
    struct Structured: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Throughput of N concurrent JSON-schema requests vs the same requests unconstrained (same output lengths).",
            discussion: "The constrained batch (greedy, the schemas in turn) and the same prompts unconstrained with ignore_eos and each request's constrained output length; the prompts prefilled once first (both batches then find them in the prefix cache), a first cold repetition (compiles, mask caches filling) reported alone, then --reps in alternating order; output tokens/s of both and their ratio (medians).")
        @Option(help: "GGUF file or Hugging Face model folder.") var model: String
        @Option(help: "JSON file: a list of JSON Schemas.") var schemas: String
        @Option var numPrompts: Int = 32
        @Option var outputLen: Int = 128
        @Option var reps: Int = 3
        @Flag var json = false
        @OptionGroup var engine: EngineOptions

        func run() async throws {
            try await Folio.runAsync {
                guard let list = try JSONValue.parse(file: schemas).arrayValue, !list.isEmpty else { throw FolioError.malformedFile(path: schemas, problem: "not a non-empty JSON list") }
                guard numPrompts >= 1, outputLen >= 1, reps >= 1 else { throw FolioError.invalidArgument(name: "--num-prompts/--output-len/--reps", message: "must be >= 1") }
                let llm = try await loadLLM(model, engine)
                guard let tmpl = llm.chatTemplate else { throw FolioError.missing(path: model, what: "chat template") }
                var prompts: [PromptInput] = [], constrained: [SamplingParams] = []
                for i in 0..<numPrompts {
                    let schema = list[i % list.count]
                    let msg = "Reply with JSON for this schema: \(schema.jsonString) (item \(i))"
                    let text = try tmpl.render(messages: .array([.object([("role", .string("user")), ("content", .string(msg))])]))
                    prompts.append(.tokens(llm.tokenizer.encode(text, addSpecialTokens: false)))
                    var p = SamplingParams.greedy
                    p.maxTokens = outputLen
                    p.structuredOutputs = .json(schema)
                    constrained.append(p)
                }
                // The prompts are prefilled once first, so every batch below finds them in the prefix cache alike.
                var one = SamplingParams.greedy
                one.maxTokens = 1
                _ = try llm.generate(prompts, params: prompts.map { _ in one })
                // Repetition 0 compiles the schemas and fills their mask caches (cold, reported alone); the rest run
                // the two batches in alternating order (greedy outputs are the same every time).
                var ratios: [Double] = [], withTps: [Double] = [], withoutTps: [Double] = []
                var finishedStop = 0, coldRatio = 0.0
                var plain: [SamplingParams] = []
                for rep in 0...reps {
                    var ta = 0.0, tb = 0.0, na = 0, nb = 0
                    for half in (rep % 2 == 0 ? [0, 1] : [1, 0]) {
                        let t0 = Date()
                        if half == 0 {
                            let a = try llm.generate(prompts, params: constrained)
                            ta = Date().timeIntervalSince(t0)
                            na = a.reduce(0) { $0 + $1.outputs[0].tokenIds.count }
                            finishedStop = a.filter { $0.outputs[0].finishReason == .stop }.count
                            if plain.isEmpty {
                                plain = a.map { o -> SamplingParams in
                                    var p = SamplingParams.greedy
                                    p.maxTokens = max(o.outputs[0].tokenIds.count, 1)
                                    p.ignoreEOS = true
                                    return p
                                }
                            }
                        } else {
                            let b = try llm.generate(prompts, params: plain)
                            tb = Date().timeIntervalSince(t0)
                            nb = b.reduce(0) { $0 + $1.outputs[0].tokenIds.count }
                        }
                    }
                    let ratio = (Double(na) / ta) / (Double(nb) / tb)
                    if rep == 0 { coldRatio = ratio; continue }
                    withTps.append(Double(na) / ta)
                    withoutTps.append(Double(nb) / tb)
                    ratios.append(ratio)
                }
                let r: [(String, JSONValue)] = [
                    ("num_prompts", .int(numPrompts)), ("schemas", .int(list.count)), ("reps", .int(reps)),
                    ("finished_stop", .int(finishedStop)),
                    ("constrained_output_tok_s_p50", .number(percentile(withTps, 0.5))),
                    ("unconstrained_output_tok_s_p50", .number(percentile(withoutTps, 0.5))),
                    ("ratio_p50", .number(percentile(ratios, 0.5))), ("ratios", .array(ratios.map { .number($0) })),
                    ("cold_first_batch_ratio", .number(coldRatio)),
                ]
                if json { emit(.object(r)) } else {
                    print(String(format: "constrained %.1f output tok/s, unconstrained %.1f, ratio %.3f (medians of %d); first batch (cold) %.3f",
                                 percentile(withTps, 0.5), percentile(withoutTps, 0.5), percentile(ratios, 0.5), reps, coldRatio))
                }
            }
        }
    }
}

import ArgumentParser
import FolioEngine
import FolioModels
import FolioTemplates
import FolioTokenizers
import FolioWeights
import Foundation

/// Engine flags shared by generate, bench and chat (vLLM's names).
struct EngineOptions: ParsableArguments {
    @Option(help: "KV blocks (default: from --kv-cache-memory).") var numKvBlocks: Int?
    @Option(help: "KV cache bytes (default: 10% of available memory, at most 4 GiB).") var kvCacheMemory: Int?
    @Option(help: "Tokens per KV block.") var blockSize: Int = 16
    @Option(help: "Sequences per step.") var maxNumSeqs: Int = 256
    @Option(help: "Tokens per step.") var maxNumBatchedTokens: Int = 2048
    @Option(help: "Context length cap (default: the model's).") var maxModelLen: Int?
    @Option(help: "Scheduling policy: fcfs or priority.") var schedulingPolicy: String = "fcfs"
    @Flag(help: "Disable prefix caching.") var noPrefixCaching = false
    @Option(help: "KV cache element type: auto (the checkpoint's 16-bit type: bfloat16 or float16), float32, float16, bfloat16, int8, fp8 (e4m3).")
    var kvCacheDtype: String = "auto"
    @Option(help: "Compute threads (default: every core).") var threads: Int?
    @Option(help: "Split the model across N processes started by mpirun -np N (Open MPI): heads, intermediate rows and vocabulary.")
    var tensorParallelSize: Int = 1
    @Option(help: "Split the model's layers across N processes started by mpirun -np N (Open MPI).") var pipelineParallelSize: Int = 1
    @Flag(help: "Use the float32 reference forward pass instead of the quantized kernels.") var reference = false
    @Flag(help: "Read every weight in place from the model file instead of repacking projections into 16-row panels at load.")
    var noRepack = false
    @Option(help: "Quantize float (F32/F16/BF16) weights at load: q8_0 or q4_0.") var quantization: String?
    @Option(help: ArgumentHelp("Speculative decoding, as vLLM's JSON: {\"method\": \"ngram\" | \"suffix\" | \"draft_model\", \"num_speculative_tokens\": K, ...}.",
                               valueName: "json"))
    var speculativeConfig: String?
    @Flag(help: "Serve LoRA adapters (PEFT folders) on top of the model.") var enableLora = false
    @Option(help: "Distinct LoRA adapters in one batch.") var maxLoras: Int = 1
    @Option(help: "Largest LoRA rank accepted.") var maxLoraRank: Int = 16
    @Option(help: "LoRA adapters kept in memory (default: --max-loras).") var maxCpuLoras: Int?
    @Option(help: "LoRA weights in memory: auto (float32), float32, float16 (half the bytes per step; see README).") var loraDtype: String = "auto"

    func forwardOptions() throws -> ForwardOptions {
        if let t = threads, t < 1 { throw FolioError.invalidArgument(name: "--threads", message: "must be >= 1") }
        var q: TensorType?
        switch quantization?.lowercased() {
        case nil: q = nil
        case "q8_0": q = .q8_0
        case "q4_0": q = .q4_0
        default: throw FolioError.invalidArgument(name: "--quantization", message: "'\(quantization!)' (q8_0 or q4_0)")
        }
        guard tensorParallelSize >= 1 else { throw FolioError.invalidArgument(name: "--tensor-parallel-size", message: "must be at least 1, got \(tensorParallelSize)") }
        guard pipelineParallelSize >= 1 else { throw FolioError.invalidArgument(name: "--pipeline-parallel-size", message: "must be at least 1, got \(pipelineParallelSize)") }
        if pipelineParallelSize > 1, enableLora {
            throw FolioError.invalidArgument(name: "--pipeline-parallel-size", message: "--enable-lora does not run with pipeline parallelism yet")
        }
        var o = ForwardOptions(reference: reference, threads: threads, quantization: q, repack: !noRepack)
        o.tensorParallelSize = tensorParallelSize
        o.pipelineParallelSize = pipelineParallelSize
        return o
    }

    func config() throws -> EngineConfig {
        var c = EngineConfig()
        c.numKVBlocks = numKvBlocks
        c.kvCacheMemory = kvCacheMemory
        c.blockSize = blockSize
        c.maxNumSeqs = maxNumSeqs
        c.maxNumBatchedTokens = maxNumBatchedTokens
        c.maxModelLen = maxModelLen
        c.enablePrefixCaching = !noPrefixCaching
        guard let p = EngineConfig.Policy(rawValue: schedulingPolicy) else {
            throw FolioError.invalidArgument(name: "--scheduling-policy", message: "'\(schedulingPolicy)' (fcfs or priority)")
        }
        c.policy = p
        c.kvCacheDType = try KVCacheDType.parse(kvCacheDtype)
        c.speculative = try speculativeConfig.map(SpeculativeConfig.parse)
        if enableLora {
            guard let d = LoRADType(rawValue: loraDtype.lowercased()) else {
                throw FolioError.invalidArgument(name: "--lora-dtype", message: "'\(loraDtype)' (auto, float32 or float16)")
            }
            c.lora = LoRAConfig(maxLoras: maxLoras, maxLoraRank: maxLoraRank, maxCPULoras: maxCpuLoras, dtype: d)
        }
        return c
    }
}

func stderr(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

/// `--lora DIR` on `folio logits` and `folio generate` takes any adapter up to vLLM's largest `max_lora_rank`.
let cliMaxLoraRank = 512

/// Loads the model and reports the KV budget (as vLLM does at startup).
func loadLLM(_ model: String, _ options: EngineOptions) async throws -> LLM {
    let llm = try await LLM(model: model, config: try options.config(), options: try options.forwardOptions())
    let e = llm.engine
    stderr("folio: \(model): \(e.model.config.architecture), KV cache \(e.kvCacheDType.rawValue) \(e.kvCacheBytes / (1 << 20)) MiB = \(e.kvCapacityTokens) tokens (max concurrent tokens), block size \(e.config.blockSize)\n")
    if let s = e.config.speculative { stderr("folio: speculative decoding: \(s.method.rawValue), up to \(s.numSpeculativeTokens) tokens\(s.adaptive ? " (adaptive)" : "")\n") }
    if let l = e.config.lora { stderr("folio: LoRA: up to \(l.maxLoras) adapters per batch, rank <= \(l.maxLoraRank)\n") }
    return llm
}

/// vLLM's speculative decoding summary: acceptance rate, mean acceptance length, accepted per position.
func specSummary(_ s: SpecDecodeStats) -> [(String, JSONValue)] {
    [("spec_decode_num_drafts", .int(s.numDrafts)), ("spec_decode_num_draft_tokens", .int(s.numDraftTokens)),
     ("spec_decode_num_accepted_tokens", .int(s.numAcceptedTokens)), ("spec_decode_acceptance_rate", .number(s.acceptanceRate)),
     ("spec_decode_mean_acceptance_length", .number(s.meanAcceptanceLength)),
     ("spec_decode_accepted_per_position", .array(s.numAcceptedTokensPerPos.map { .int($0) }))]
}

func printSpecSummary(_ s: SpecDecodeStats) {
    print(String(format: "Speculative decoding: acceptance rate %.1f%%, mean acceptance length %.2f (%d drafts, %d draft tokens, %d accepted)",
                 100 * s.acceptanceRate, s.meanAcceptanceLength, s.numDrafts, s.numDraftTokens, s.numAcceptedTokens))
    print("Accepted per position: " + s.numAcceptedTokensPerPos.map(String.init).joined(separator: " "))
}

func progressBar(_ done: Int, _ total: Int) {
    let w = 30, filled = total > 0 ? done * w / total : w
    stderr("\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: w - filled) + "] \(done)/\(total)" + (done == total ? "\n" : ""))
}

extension Generate {
    /// `--prompts-file`: every prompt through the engine at once.
    func runBatch(file: String, temperature: Float, topP: Float) async throws {
        guard let d = FileManager.default.contents(atPath: file) else { throw FolioError.io(path: file, message: "cannot read") }
        let j = try JSONValue.parse(d)
        guard let arr = j.arrayValue, let prompts = Optional(arr.compactMap(\.stringValue)), prompts.count == arr.count else {
            throw FolioError.malformedFile(path: file, problem: "not a JSON array of strings")
        }
        var options = engine
        if lora != nil { options.enableLora = true; options.maxLoraRank = max(options.maxLoraRank, cliMaxLoraRank) }
        let llm = try await loadLLM(model, options)
        var p = SamplingParams(temperature: temperature, topP: topP, maxTokens: maxTokens, seed: seed)
        p.ignoreEOS = ignoreEos
        let progress: ((Int, Int) -> Void)? = prompts.count > 8 ? { progressBar($0, $1) } : nil
        let outs = try await llm.generate(prompts.map { PromptInput.text($0) }, p, lora: lora.map { LoRARequest(name: "lora", id: 1, path: $0) },
                                          progress: progress)
        let s = llm.engine.stats
        let items: [JSONValue] = outs.map { o -> JSONValue in
            let c = o.outputs[0]
            return JSONValue.object([("token_ids", JSONValue.ints(c.tokenIds)), ("text", JSONValue.string(c.text)),
                                     ("finish_reason", JSONValue.string(c.finishReason?.rawValue ?? ""))])
        }
        emit(.object([
            ("outputs", .array(items)),
            ("stats", .object([("num_preemptions", .int(s.numPreemptions)), ("prefix_cache_queries", .int(s.prefixCacheQueries)),
                               ("prefix_cache_hits", .int(s.prefixCacheHits)), ("prefix_cache_hit_tokens", .int(s.prefixCacheHitTokens)),
                               ("prompt_tokens", .int(s.promptTokens)), ("generation_tokens", .int(s.generationTokens)),
                               ("computed_tokens", .int(s.computedTokens)), ("steps", .int(s.steps)), ("num_kv_blocks", .int(s.numBlocks))])),
        ]))
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks shaped like vLLM's.", subcommands: [Throughput.self, Latency.self, Serve.self, Grammar.self, Structured.self, Embed.self])

    /// Random token-id prompts (vLLM's random dataset), or the first prompts of a JSON array of strings.
    static func prompts(_ llm: LLM, n: Int, inputLen: Int, dataset: String?, seed: UInt64) throws -> [PromptInput] {
        if let dataset {
            guard let d = FileManager.default.contents(atPath: dataset), let arr = try JSONValue.parse(d).arrayValue else {
                throw FolioError.malformedFile(path: dataset, problem: "not a JSON array of strings")
            }
            let texts = arr.compactMap(\.stringValue)
            guard !texts.isEmpty else { throw FolioError.malformedFile(path: dataset, problem: "no prompts") }
            return (0..<n).map { .text(texts[$0 % texts.count]) }
        }
        var rng = SeededRandom(seed: seed)
        let v = UInt64(llm.engine.model.config.vocabSize)
        return (0..<n).map { _ in .tokens((0..<inputLen).map { _ in Int32(rng.next() % v) }) }
    }

    struct Throughput: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "All requests at once; requests/s and tokens/s (like vllm bench throughput).")
        @Option(help: "GGUF file or Hugging Face model folder.") var model: String
        @Option var numPrompts: Int = 64
        @Option var inputLen: Int = 128
        @Option var outputLen: Int = 64
        @Option(help: "JSON array of prompt strings instead of random tokens.") var dataset: String?
        @Option var seed: UInt64 = 0
        @Option(help: "PEFT LoRA adapter folder (repeatable): requests take adapters round-robin (needs --enable-lora).") var loraPath: [String] = []
        @Option(help: "Distinct adapters the requests use, cycling over --lora-path (each loaded as its own adapter; default: one per path).")
        var numLoras: Int?
        @Flag var json = false
        @OptionGroup var engine: EngineOptions

        func run() async throws {
            try await Folio.runAsync {
                guard numPrompts >= 1, inputLen >= 1, outputLen >= 1 else { throw FolioError.invalidArgument(name: "--num-prompts/--input-len/--output-len", message: "must be >= 1") }
                if !loraPath.isEmpty, !engine.enableLora { throw FolioError.invalidArgument(name: "--lora-path", message: "needs --enable-lora") }
                let nLoras = numLoras ?? loraPath.count
                if !loraPath.isEmpty, nLoras < 1 { throw FolioError.invalidArgument(name: "--num-loras", message: "must be >= 1") }
                let llm = try await loadLLM(model, engine)
                let prompts = try Bench.prompts(llm, n: numPrompts, inputLen: inputLen, dataset: dataset, seed: seed)
                var p = SamplingParams.greedy
                p.maxTokens = outputLen
                p.ignoreEOS = true
                let loras: [LoRARequest?] = loraPath.isEmpty ? [] : (0..<numPrompts).map { i in
                    let k = i % nLoras
                    return LoRARequest(name: "lora-\(k + 1)", id: k + 1, path: loraPath[k % loraPath.count])
                }
                // Adapters load before the clock starts (`folio serve` loads them at startup or on first use).
                let tl = Date()
                var bytes = 0
                for l in Set(loras.compactMap { $0 }) { bytes += try llm.engine.loras?.adapter(for: l).byteCount ?? 0 }
                if !loras.isEmpty {
                    stderr(String(format: "folio: %d adapters loaded in %.1f ms, %.1f MiB each in memory\n", nLoras, 1000 * Date().timeIntervalSince(tl),
                                  Double(bytes) / Double(nLoras) / 1048576))
                }
                let t0 = Date()
                let outs = try llm.generate(prompts, params: Array(repeating: p, count: prompts.count), loras: loras, progress: progressBar)
                let dt = Date().timeIntervalSince(t0)
                let inTok = outs.reduce(0) { $0 + $1.promptTokenIds.count }, outTok = outs.reduce(0) { $0 + $1.outputs[0].tokenIds.count }
                let r = [("elapsed_time", dt), ("num_requests", Double(outs.count)), ("total_num_tokens", Double(inTok + outTok)),
                         ("requests_per_s", Double(outs.count) / dt), ("total_tokens_per_s", Double(inTok + outTok) / dt),
                         ("output_tokens_per_s", Double(outTok) / dt)]
                let spec = llm.engine.stats.specDecode
                if json { emit(.object(r.map { ($0.0, .number($0.1)) } + (spec.map(specSummary) ?? []))) } else {
                    print(String(format: "Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s", r[3].1, r[4].1, r[5].1))
                    print("Total num prompt tokens: \(inTok)\nTotal num output tokens: \(outTok)")
                    if let spec { printSpecSummary(spec) }
                }
            }
        }
    }

    struct Latency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One batch at a time; latency percentiles (like vllm bench latency).")
        @Option var model: String
        @Option var inputLen: Int = 32
        @Option var outputLen: Int = 128
        @Option var batchSize: Int = 8
        @Option var iters: Int = 5
        @Option var warmupIters: Int = 1
        @Option(help: "JSON array of prompt strings (each iteration takes the next batch-size of them) instead of random tokens.")
        var dataset: String?
        @Option(help: "Sampling temperature (0: greedy).") var temperature: Float = 0
        @Flag(help: "Stop at EOS instead of generating exactly --output-len tokens.") var stopAtEos = false
        @Flag(help: "Before each timed run, run its prompts for one token (so the timed run decodes from prefix-cached prompts: decode tokens/s of a batch without prefills in between).")
        var prefillFirst = false
        @Flag var json = false
        @OptionGroup var engine: EngineOptions

        func run() async throws {
            try await Folio.runAsync {
                guard batchSize >= 1, iters >= 1 else { throw FolioError.invalidArgument(name: "--batch-size/--iters", message: "must be >= 1") }
                let llm = try await loadLLM(model, engine)
                var p = SamplingParams(temperature: temperature, maxTokens: outputLen, seed: 0)
                p.ignoreEOS = !stopAtEos
                let texts = try dataset.map { try Bench.prompts(llm, n: batchSize * (warmupIters + iters), inputLen: 1, dataset: $0, seed: 0) }
                var lat: [Double] = [], ttft: [Double] = [], decode: [Double] = []
                let tp = llm.engine.model.parallel
                var tpStart = (seconds: 0.0, steps: 0)
                for i in 0..<(warmupIters + iters) {
                    if i == warmupIters, let tp { tpStart = (tp.collectiveSeconds, llm.engine.stats.steps) }
                    let prompts = try texts.map { Array($0[(i * batchSize)..<((i + 1) * batchSize)]) }
                        ?? Bench.prompts(llm, n: batchSize, inputLen: inputLen, dataset: nil, seed: UInt64(i))
                    if prefillFirst {
                        var one = p
                        one.maxTokens = 1
                        _ = try await llm.generate(prompts, one)
                    }
                    let t0 = Date()
                    let outs = try await llm.generate(prompts, p)
                    if i >= warmupIters {
                        lat.append(Date().timeIntervalSince(t0))
                        // Time to the batch's first token (its prefill), and decode tokens/s from then to the last finish.
                        let first = outs.compactMap(\.metrics.firstToken).min(), last = outs.compactMap(\.metrics.finished).max()
                        if let first { ttft.append(first.timeIntervalSince(t0)) }
                        let generated = outs.reduce(0) { $0 + $1.outputs[0].numTokens }
                        if let first, let last, generated > batchSize, last > first {
                            decode.append(Double(generated - batchSize) / last.timeIntervalSince(first))
                        }
                    }
                    progressBar(i + 1, warmupIters + iters)
                }
                func pct(_ q: Double) -> Double { percentile(lat, q) }
                let avg = lat.reduce(0, +) / Double(lat.count)
                let spec = llm.engine.stats.specDecode
                if json {
                    emit(.object([("avg_latency_s", .number(avg)), ("p50_latency_s", .number(pct(0.5))), ("p90_latency_s", .number(pct(0.9))),
                                  ("p99_latency_s", .number(pct(0.99))), ("latencies", .array(lat.map { .number($0) })),
                                  ("p50_ttft_s", ttft.isEmpty ? .null : .number(percentile(ttft, 0.5))),
                                  ("p50_decode_tok_s", decode.isEmpty ? .null : .number(percentile(decode, 0.5))), ("decode_tok_s", .array(decode.map { .number($0) }))]
                                 + (spec.map(specSummary) ?? []) + tensorParallelSummary(tp, since: tpStart, steps: llm.engine.stats.steps)))
                } else {
                    print(String(format: "Avg latency: %.4f seconds\n50%% percentile latency: %.4f seconds\n90%% percentile latency: %.4f seconds\n99%% percentile latency: %.4f seconds", avg, pct(0.5), pct(0.9), pct(0.99)))
                    if !decode.isEmpty { print(String(format: "Median decode: %.2f tokens/s", percentile(decode, 0.5))) }
                    if let spec { printSpecSummary(spec) }
                    for (k, v) in tensorParallelSummary(tp, since: tpStart, steps: llm.engine.stats.steps) { print("\(k): \(v.jsonString)") }
                }
            }
        }
    }
}

/// Tensor parallelism's cost in the timed runs: seconds per engine step spent in collectives on rank 0 (all-reduces,
/// the logits gather, and waiting there for the slower rank).
func tensorParallelSummary(_ tp: ModelParallel?, since start: (seconds: Double, steps: Int), steps: Int) -> [(String, JSONValue)] {
    guard let tp else { return [] }
    let n = max(steps - start.steps, 1)
    return [("model_parallel_size", .int(tp.size)), ("tp_collective_s_per_step", .number((tp.collectiveSeconds - start.seconds) / Double(n))),
            ("tp_steps", .int(steps - start.steps))]
}

/// The q-quantile of xs (nearest rank, as the bench commands report percentiles); xs must not be empty.
func percentile(_ xs: [Double], _ q: Double) -> Double {
    let s = xs.sorted()
    return s[min(s.count - 1, Int((q * Double(s.count - 1)).rounded()))]
}

struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Interactive chat in the terminal, streaming the reply.")
    @Option(help: "GGUF file or Hugging Face model folder.") var model: String
    @Option var system: String?
    @Option var maxTokens: Int = 512
    @Option var temperature: Float = 0.7
    @Option var topP: Float = 0.95
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        try await Folio.runAsync {
            let llm = try await loadLLM(model, engine)
            guard let tmpl = llm.chatTemplate else { throw FolioError.missing(path: model, what: "chat template") }
            var messages: [JSONValue] = []
            if let system { messages.append(.object([("role", .string("system")), ("content", .string(system))])) }
            var params = SamplingParams(temperature: temperature, topP: topP, maxTokens: maxTokens)
            params.skipSpecialTokens = true
            var turn = 0
            stderr("Type a message; an empty line or Ctrl-D quits.\n")
            while true {
                stderr("> ")
                guard let line = readLine(), !line.isEmpty else { break }
                messages.append(.object([("role", .string("user")), ("content", .string(line))]))
                let prompt = try tmpl.render(messages: .array(messages))
                turn += 1
                try llm.engine.addRequest(id: "chat-\(turn)", prompt: .tokens(llm.tokenizer.encode(prompt, addSpecialTokens: false)), params: params)
                var reply = ""
                while llm.engine.hasUnfinishedRequests {
                    for o in try llm.engine.step() {
                        let d = o.outputs[0].deltaText
                        FileHandle.standardOutput.write(Data(d.utf8))
                        reply += d
                    }
                }
                print("")
                messages.append(.object([("role", .string("assistant")), ("content", .string(reply))]))
            }
        }
    }
}

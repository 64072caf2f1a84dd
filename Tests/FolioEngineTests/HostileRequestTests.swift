import FolioEngine
import FolioModels
import FolioTokenizers
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// Requests that used to crash, stall or starve the engine (issue 11): each is now a clear error or a failure of
/// that request alone.
@Suite("Hostile requests")
struct HostileRequestTests {
    struct Injected: Error, CustomStringConvertible { var description: String { "injected fault" } }

    func message(_ e: any Error) -> String { (e as? FolioError)?.description ?? "\(e)" }

    @Test("max_tokens = Int.max is refused naming max_model_len (it trapped on prompt + max_tokens)")
    func hugeMaxTokens() throws {
        let e = try tinyEngine()
        var p = greedy(1)
        p.maxTokens = Int.max
        #expect { try e.addRequest(id: "x", prompt: .tokens([1, 2, 3]), params: p) } throws: {
            message($0).contains("max_tokens=\(Int.max) cannot be greater than max_model_len=\(e.maxModelLen)")
        }
        p.maxTokens = e.maxModelLen - 1  // fits alone, not with the prompt
        #expect { try e.addRequest(id: "y", prompt: .tokens([1, 2, 3]), params: p) } throws: {
            message($0).contains("you requested \(e.maxModelLen + 2) tokens (3 in the messages, \(e.maxModelLen - 1) in the completion)")
        }
        var lp = greedy(4)
        lp.logprobs = 1000
        #expect { try e.addRequest(id: "z", prompt: .tokens([1, 2, 3]), params: lp) } throws: {
            message($0).contains("Requested sample logprobs of 1000, which is greater than max allowed: 20")
        }
        #expect(!e.hasUnfinishedRequests && e.allBlocksFree)
    }

    @Test("a request whose forward pass fails is failed alone; the others finish as if run alone")
    func faultIsolation() throws {
        let ps = prompts(5, seed: 3)
        var alone: [[Int32]] = []
        for p in ps { alone.append(try runAll(try tinyEngine(), [("x", .tokens(p), greedy(12))])["x"]!.outputs[0].tokenIds) }
        let e = try tinyEngine()
        e.faultInjection = { id in id == "r2" ? Injected() : nil }
        for (i, p) in ps.enumerated() { try e.addRequest(id: "r\(i)", prompt: .tokens(p), params: greedy(12)) }
        var done: [String: RequestOutput] = [:]
        var steps = 0
        while e.hasUnfinishedRequests, steps < 1000 {
            for o in try e.step() where o.finished { done[o.requestId] = o }
            steps += 1
        }
        #expect(done["r2"]?.error?.contains("injected fault") == true)
        #expect(done["r2"]?.outputs[0].finishReason == .abort)
        for i in [0, 1, 3, 4] {
            #expect(done["r\(i)"]?.error == nil)
            #expect(done["r\(i)"]?.outputs[0].tokenIds == alone[i], "request \(i)")
        }
        #expect(e.allBlocksFree)
    }

    @Test("AsyncEngine: the failing request's stream throws, the others complete")
    func asyncFaultIsolation() async throws {
        let core = try tinyEngine()
        core.faultInjection = { id in id == "bad" ? Injected() : nil }
        let engine = AsyncEngine(core: core)
        let ps = prompts(3, seed: 9)
        var streams: [(String, AsyncThrowingStream<RequestOutput, any Error>)] = []
        for (i, p) in ps.enumerated() {
            let id = i == 1 ? "bad" : "ok\(i)"
            streams.append((id, try await engine.generate(id: id, prompt: .tokens(p), params: greedy(10))))
        }
        for (id, s) in streams {
            var last: RequestOutput?
            do {
                for try await o in s { last = o }
                #expect(id != "bad", "the failing request finished normally")
                #expect(last?.finished == true && last?.outputs[0].tokenIds.count == 10)
            } catch let f as AsyncEngine.RequestFailed {
                #expect(id == "bad")
                #expect(f.message.contains("injected fault"))
            }
        }
        #expect(engine.stats.numRunning == 0)
        #expect(core.allBlocksFree)
    }

    @Test("delta outputs carry only what each step added; final-only outputs come once; both add up to the cumulative output")
    func outputKinds() throws {
        let p = prompts(1, seed: 5)[0]
        var base = SamplingParams(temperature: 0.9, maxTokens: 30, seed: 11)
        base.ignoreEOS = true
        base.logprobs = 2
        base.stop = ["zzzz"]  // never produced: exercises the stop-string hold-back on every step
        let full = try runAll(try tinyEngine(), [("c", .tokens(p), base)])["c"]!.outputs[0]
        var d = base
        d.outputKind = .delta
        let e = try tinyEngine()
        try e.addRequest(id: "d", prompt: .tokens(p), params: d)
        var text = "", ids: [Int32] = [], lps = 0, n = 0
        while e.hasUnfinishedRequests {
            for o in try e.step() {
                let c = o.outputs[0]
                #expect(c.text == c.deltaText && c.tokenIds == c.deltaTokenIds)
                text += c.text; ids += c.tokenIds; lps += c.logprobs?.count ?? 0; n = c.numTokens
            }
        }
        #expect(text == full.text && ids == full.tokenIds && lps == full.logprobs?.count && n == 30)
        var f = base
        f.outputKind = .finalOnly
        let e2 = try tinyEngine()
        try e2.addRequest(id: "f", prompt: .tokens(p), params: f)
        var outs: [RequestOutput] = []
        while e2.hasUnfinishedRequests { outs += try e2.step() }
        #expect(outs.count == 1 && outs[0].finished && outs[0].outputs[0].text == full.text && outs[0].outputs[0].tokenIds == full.tokenIds)
    }

    @Test("prefix-cache entries are shared only between requests with the same cache_salt")
    func cacheSalt() throws {
        let e = try tinyEngine()
        var rng = SeededRandom(seed: 2)
        let p = (0..<80).map { _ in Int32(rng.next() % 511) + 1 }
        func run(_ id: String, _ salt: String?) throws -> Int {
            try e.addRequest(id: id, prompt: .tokens(p), params: greedy(2), cacheSalt: salt)
            var cached = 0
            while e.hasUnfinishedRequests { for o in try e.step() where o.finished { cached = o.numCachedTokens } }
            return cached
        }
        #expect(try run("a", "alice") == 0)
        #expect(try run("b", "bob") == 0)        // another salt: no hit
        #expect(try run("c", nil) == 0)          // no salt: no hit either
        #expect(try run("d", "alice") == 64)     // same salt: the 4 full blocks before the last token
        #expect(try run("e", nil) == 64)
    }

    @Test("block identities: SHA-256 chains keyed by a random root; tokens, parent and keys all change them")
    func blockHash() {
        let root = BlockHash.randomKey(), other = BlockHash.randomKey()
        let t: [Int32] = Array(0..<16)
        let h = BlockHash(parent: root, tokens: t[...])
        #expect(h == BlockHash(parent: root, tokens: t[...]))
        #expect(h != BlockHash(parent: other, tokens: t[...]))
        #expect(h != BlockHash(parent: root, tokens: t[...], extraKeys: ["salt:x"]))
        #expect(h != BlockHash(parent: root, tokens: Array(t.dropLast())[...] + [99]))
        #expect(BlockHash(parent: root, tokens: t[...], extraKeys: ["ab", "c"]) != BlockHash(parent: root, tokens: t[...], extraKeys: ["a", "bc"]))
    }

    @Test("prompt logprobs over a long prompt are computed 128 positions a step, and all of them are returned")
    func promptLogprobsChunked() throws {
        let e = try tinyEngine()
        var rng = SeededRandom(seed: 4)
        let p = (0..<300).map { _ in Int32(rng.next() % 511) + 1 }
        var sp = greedy(1)
        sp.promptLogprobs = 1
        try e.addRequest(id: "p", prompt: .tokens(p), params: sp)
        var steps = 0
        var out: RequestOutput?
        while e.hasUnfinishedRequests { steps += 1; for o in try e.step() where o.finished { out = o } }
        #expect(steps >= 3)  // ceil(300 / 128) prompt steps
        let lps = try #require(out?.promptLogprobs)
        #expect(lps.count == 300 && lps[0] == nil && lps.dropFirst().allSatisfy { $0 != nil })
        for i in 1..<300 { #expect(lps[i]!.chosen.tokenId == p[i]) }
    }

    @Test("stop strings found across token boundaries by the tail-only check, in cumulative and delta outputs")
    func stopStrings() throws {
        let p = prompts(3, seed: 8)[2]
        var base = SamplingParams(temperature: 0.7, maxTokens: 40, seed: 3)
        base.ignoreEOS = true
        let full = try runAll(try tinyEngine(), [("a", .tokens(p), base)])["a"]!.outputs[0].text
        let scalars = Array(full.unicodeScalars)
        try #require(scalars.count > 30)
        // A stop string that spans characters from the middle of the text (likely across tokens).
        let stop = String(String.UnicodeScalarView(scalars[18..<24]))
        let first = full.range(of: stop)!
        for include in [false, true] {
            for kind in [RequestOutputKind.cumulative, .delta] {
                var sp = base
                sp.stop = ["never-in-the-output", stop]
                sp.includeStopStrInOutput = include
                sp.outputKind = kind
                let e = try tinyEngine()
                try e.addRequest(id: "s", prompt: .tokens(p), params: sp)
                var text = "", last: RequestOutput?
                while e.hasUnfinishedRequests {
                    for o in try e.step() { text = kind == .delta ? text + o.outputs[0].text : o.outputs[0].text; last = o }
                }
                let expected = String(full[..<(include ? first.upperBound : first.lowerBound)])
                #expect(text == expected, "include \(include), \(kind)")
                #expect(last?.outputs[0].finishReason == .stop && last?.outputs[0].stopReason == stop)
            }
        }
        var long = base
        long.stop = [String(repeating: "x", count: SamplingParams.maxStopLength + 1)]
        #expect { try tinyEngine().addRequest(id: "l", prompt: .tokens(p), params: long) } throws: {
            message($0).contains("strings must be at most 1024 characters, got 1025")
        }
    }

    @Test("finished, aborted and failed requests are freed (a request and its samples referenced each other)")
    func requestsAreFreed() throws {
        weak var tok: Tokenizer?
        do {
            let e = try tinyEngine()
            tok = e.tokenizer  // every sample's detokenizer holds it: it outlives the engine only if a request leaks
            var n2 = SamplingParams(n: 2, temperature: 0.8, maxTokens: 4, seed: 1)
            n2.ignoreEOS = true
            _ = try runAll(e, [("a", .tokens([1, 2, 3]), greedy(4)), ("b", .tokens([4, 5]), n2)])
            try e.addRequest(id: "c", prompt: .tokens([6, 7, 8]), params: greedy(50))
            _ = try e.step()
            e.abort(id: "c")
            e.faultInjection = { id in id == "d" ? Injected() : nil }
            _ = try runAll(e, [("d", .tokens([9, 10]), greedy(4))])
            #expect(e.allBlocksFree)
        }
        #expect(tok == nil)
    }
}


import FolioEngine
import FolioModels
import FolioTokenizers
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

@Suite("AsyncEngine")
struct AsyncEngineTests {
    @Test("concurrent streams equal the same requests run alone; cancelling a stream aborts its request")
    func streams() async throws {
        let ps = prompts(6, seed: 21)
        var alone: [[Int32]] = []
        for p in ps { alone.append(try runAll(try tinyEngine(), [("x", .tokens(p), greedy(20))])["x"]!.outputs[0].tokenIds) }
        let core = try tinyEngine()
        let engine = AsyncEngine(core: core)
        let results = try await withThrowingTaskGroup(of: (Int, [Int32], Int).self) { group in
            for (i, p) in ps.enumerated() {
                let stream = try await engine.generate(id: "r\(i)", prompt: .tokens(p), params: greedy(20))
                group.addTask {
                    var ids: [Int32] = [], deltas = 0
                    for try await o in stream { ids += o.outputs[0].deltaTokenIds; deltas += 1 }
                    return (i, ids, deltas)
                }
            }
            var r: [Int: ([Int32], Int)] = [:]
            for try await (i, ids, d) in group { r[i] = (ids, d) }
            return r
        }
        for i in 0..<ps.count {
            #expect(results[i]!.0 == alone[i], "request \(i)")
            #expect(results[i]!.1 > 1)  // streamed in several outputs
        }
        // A consumer that goes away aborts its request; its blocks come back.
        let stream = try await engine.generate(id: "gone", prompt: .tokens(ps[0]), params: greedy(200))
        let t = Task { for try await _ in stream { } }
        t.cancel()
        _ = await t.result
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(engine.stats.numRunning == 0)
        #expect(core.allBlocksFree)
    }

    @Test("while a step runs, admissions, aborts and stats are answered without waiting for it")
    func responsiveDuringStep() async throws {
        let core = try tinyEngine()
        // Set by the hook on the step thread; `release` by the test once it has been answered.
        let flag = Locked((inStep: false, stepDone: false, release: false))
        core.faultInjection = { id in
            // The first forward with "slow" in it stands for a long prefill on a small CPU: it holds the step
            // until the test has its answers (or 60 s pass, when they waited for the step: the check below fails).
            // A fixed sleep here made the test depend on how busy the machine's other tests kept the threads.
            if id == "slow", !flag.value.stepDone {
                flag.withLock { $0.inStep = true }
                let deadline = Date().addingTimeInterval(60)
                while !flag.value.release, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
                flag.withLock { $0.stepDone = true }
            }
            return nil
        }
        let engine = AsyncEngine(core: core)
        let slow = try await engine.generate(id: "slow", prompt: .tokens(prompts(2, seed: 1)[1]), params: greedy(4))
        while !flag.value.inStep { try await Task.sleep(nanoseconds: 10_000_000) }
        let other = try await engine.generate(id: "other", prompt: .tokens([5, 6, 7]), params: greedy(4))  // queued
        _ = engine.stats
        await engine.abort(id: "other")
        #expect(!flag.value.stepDone, "the admission, stats read and abort waited for the step")
        flag.withLock { $0.release = true }
        var n = 0
        for try await _ in other { n += 1 }
        #expect(n == 0)  // aborted before it reached the core
        var last: RequestOutput?
        for try await o in slow { last = o }
        #expect(last?.finished == true && last?.outputs[0].numTokens == 4)
        #expect(engine.stats.numRunning == 0 && core.allBlocksFree)
    }
}

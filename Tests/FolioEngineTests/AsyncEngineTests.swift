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
        #expect(await engine.stats.numRunning == 0)
        #expect(core.allBlocksFree)
    }
}

import ArgumentParser
import FolioEngine
import FolioModels
import FolioWeights
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client for `bench serve`: one blocking connection per request, chunked or plain bodies,
/// handing each SSE `data:` payload to `onEvent` as it arrives (with its arrival time).
enum BenchHTTP {
    struct Failure: Error { let message: String }

    static func post(host: String, port: Int, path: String, body: Data, headers: [String: String],
                     onEvent: (String, Date) -> Void) throws -> Int {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw Failure(message: "cannot resolve \(host)") }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(message: "socket failed") }
        defer { close(fd) }
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else { throw Failure(message: "cannot connect to \(host):\(port)") }
        var head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let req = Data((head + "\r\n").utf8) + body
        try req.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = send(fd, p.baseAddress! + off, p.count - off, 0)
                guard n > 0 else { throw Failure(message: "send failed") }
                off += n
            }
        }
        var buf = [UInt8]()
        var status = 0
        var headerEnd: Int? = nil
        var chunked = false
        var bodyBytes = [UInt8]()   // de-chunked body not yet split into events
        var raw = [UInt8](repeating: 0, count: 65536)
        func drainEvents() {
            while let r = findSeq(bodyBytes, [10, 10]) {
                let event = String(decoding: bodyBytes[..<r], as: UTF8.self)
                bodyBytes.removeFirst(r + 2)
                for line in event.split(separator: "\n") where line.hasPrefix("data:") {
                    onEvent(line.dropFirst(5).trimmingCharacters(in: .whitespaces), Date())
                }
            }
        }
        while true {
            let n = recv(fd, &raw, raw.count, 0)
            if n <= 0 { break }
            buf += raw[0..<n]
            if headerEnd == nil, let e = findSeq(buf, [13, 10, 13, 10]) {
                headerEnd = e
                let h = String(decoding: buf[..<e], as: UTF8.self)
                status = Int(h.split(separator: " ").dropFirst().first ?? "") ?? 0
                chunked = h.lowercased().contains("transfer-encoding: chunked")
                buf.removeFirst(e + 4)
            }
            guard headerEnd != nil else { continue }
            if chunked {
                while let le = findSeq(buf, [13, 10]) {
                    let size = Int(String(decoding: buf[..<le], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) ?? 0
                    if size == 0 { buf = []; break }
                    guard buf.count >= le + 2 + size + 2 else { break }
                    bodyBytes += buf[(le + 2)..<(le + 2 + size)]
                    buf.removeFirst(le + 2 + size + 2)
                }
            } else {
                bodyBytes += buf
                buf = []
            }
            drainEvents()
        }
        if !bodyBytes.isEmpty { bodyBytes += [10, 10]; drainEvents() }
        return status
    }

    static func findSeq(_ a: [UInt8], _ s: [UInt8]) -> Int? {
        guard a.count >= s.count else { return nil }
        for i in 0...(a.count - s.count) where a[i] == s[0] {
            var ok = true
            for j in 1..<s.count where a[i + j] != s[j] { ok = false; break }
            if ok { return i }
        }
        return nil
    }
}

extension Bench {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load-test any OpenAI-compatible server with streaming requests (measured as vllm bench serve measures).")
        @Option var baseUrl: String = "http://127.0.0.1:8000"
        @Option var model: String
        @Option var endpoint: String = "/v1/completions"
        @Option var numPrompts: Int = 64
        @Option var inputLen: Int = 128
        @Option var outputLen: Int = 64
        @Option(help: "JSON array of prompt strings (default: random token ids, sent as token-id prompts).") var dataset: String?
        @Option(help: "Requests per second (Poisson arrivals); default: all at once.") var requestRate: Double?
        @Option var maxConcurrency: Int?
        @Option var apiKey: String?
        @Option var seed: UInt64 = 0
        @Option(help: "Vocabulary size for random prompts.") var vocabSize: Int = 49152
        @Flag var json = false

        struct Result { var ok = false; var ttft = 0.0; var latency = 0.0; var itl: [Double] = []; var outTokens = 0; var inTokens = 0; var error = "" }

        func run() throws {
            try Folio.run {
                guard let url = URL(string: baseUrl), let host = url.host else { throw FolioError.invalidArgument(name: "--base-url", message: baseUrl) }
                let port = url.port ?? 80
                let path = url.path.hasSuffix("/v1") ? String(url.path.dropLast(3)) + endpoint : url.path + endpoint
                var rng = SeededRandom(seed: seed)
                var texts: [String]? = nil
                if let dataset {
                    guard let d = FileManager.default.contents(atPath: dataset), let a = try JSONValue.parse(d).arrayValue else {
                        throw FolioError.malformedFile(path: dataset, problem: "not a JSON array of strings")
                    }
                    texts = a.compactMap(\.stringValue)
                }
                let chat = endpoint.contains("chat")
                let bodies: [Data] = (0..<numPrompts).map { i in
                    var fields: [(String, JSONValue)] = [("model", .string(model)), ("max_tokens", .int(outputLen)), ("temperature", .int(0)),
                                                         ("stream", .bool(true)), ("stream_options", .object([("include_usage", .bool(true))])),
                                                         ("ignore_eos", .bool(true))]
                    if chat {
                        let text = texts.map { $0[i % $0.count] } ?? (0..<inputLen).map { _ in ["hello", "world", "swift", "model", "token"][Int(rng.next() % 5)] }.joined(separator: " ")
                        fields.append(("messages", .array([.object([("role", .string("user")), ("content", .string(text))])])))
                    } else if let t = texts {
                        fields.append(("prompt", .string(t[i % t.count])))
                    } else {
                        fields.append(("prompt", .array((0..<inputLen).map { _ in .int(Int(rng.next() % UInt64(vocabSize))) })))
                    }
                    return Data(JSONValue.object(fields).jsonString.utf8)
                }
                var headers: [String: String] = [:]
                if let k = apiKey ?? ProcessInfo.processInfo.environment["OPENAI_API_KEY"] { headers["Authorization"] = "Bearer \(k)" }
                // Arrival times: Poisson with the given rate, or all at t = 0.
                var arrivals = [Double](repeating: 0, count: numPrompts)
                if let r = requestRate, r > 0, r.isFinite {
                    var t = 0.0
                    for i in 0..<numPrompts { arrivals[i] = t; t += -log(max(1e-12, 1 - rng.nextUnit())) / r }
                }
                let results = ResultBox(count: numPrompts)
                let sem = DispatchSemaphore(value: maxConcurrency ?? numPrompts)
                let group = DispatchGroup()
                let start = Date()
                let h = headers
                for i in 0..<numPrompts {
                    let wait = arrivals[i] - Date().timeIntervalSince(start)
                    if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                    sem.wait()
                    group.enter()
                    let body = bodies[i]
                    Thread.detachNewThread {
                        defer { sem.signal(); group.leave() }
                        var r = Result()
                        let t0 = Date()
                        var last: Date? = nil
                        var gotUsage = false
                        var chunksWithText = 0
                        do {
                            let status = try BenchHTTP.post(host: host, port: port, path: path, body: body, headers: h) { data, at in
                                guard data != "[DONE]", let v = try? JSONValue.parse(Data(data.utf8)) else { return }
                                if let u = v["usage"], !u.isNull, let c = u["completion_tokens"]?.intValue {
                                    r.outTokens = c; r.inTokens = u["prompt_tokens"]?.intValue ?? 0; gotUsage = true
                                }
                                guard let ch = v["choices"]?.arrayValue, !ch.isEmpty else { return }
                                let text = ch[0]["text"]?.stringValue ?? ch[0]["delta"]?["content"]?.stringValue ?? ""
                                if text.isEmpty, ch[0]["finish_reason"]?.isNull != false { return }
                                if last == nil { r.ttft = at.timeIntervalSince(t0) } else { r.itl.append(at.timeIntervalSince(last!)) }
                                last = at
                                chunksWithText += 1
                            }
                            r.latency = Date().timeIntervalSince(t0)
                            r.ok = status == 200 && last != nil
                            if !gotUsage { r.outTokens = chunksWithText }
                            if status != 200 { r.error = "HTTP \(status)" }
                        } catch { r.error = "\(error)" }
                        results.set(i, r)
                    }
                }
                group.wait()
                let duration = Date().timeIntervalSince(start)
                let rs = results.all.compactMap { $0 }
                let ok = rs.filter(\.ok)
                let outTok = ok.reduce(0) { $0 + $1.outTokens }, inTok = ok.reduce(0) { $0 + $1.inTokens }
                func stats(_ xs: [Double]) -> (Double, Double, Double) {
                    guard !xs.isEmpty else { return (0, 0, 0) }
                    return (xs.reduce(0, +) / Double(xs.count) * 1000, percentile(xs, 0.5) * 1000, percentile(xs, 0.99) * 1000)
                }
                let ttft = stats(ok.map(\.ttft)), e2el = stats(ok.map(\.latency)), itl = stats(ok.flatMap(\.itl))
                let tpot = stats(ok.filter { $0.outTokens > 1 }.map { ($0.latency - $0.ttft) / Double($0.outTokens - 1) })
                if json {
                    var o: [(String, JSONValue)] = [("completed", .int(ok.count)), ("failed", .int(rs.count - ok.count)),
                                                    ("duration", .number(duration)), ("total_input_tokens", .int(inTok)),
                                                    ("total_output_tokens", .int(outTok)),
                                                    ("request_throughput", .number(Double(ok.count) / duration)),
                                                    ("output_throughput", .number(Double(outTok) / duration)),
                                                    ("total_token_throughput", .number(Double(inTok + outTok) / duration))]
                    for (n, s) in [("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)] {
                        o += [("mean_\(n)_ms", .number(s.0)), ("median_\(n)_ms", .number(s.1)), ("p99_\(n)_ms", .number(s.2))]
                    }
                    emit(.object(o))
                    return
                }
                var out = "============ Serving Benchmark Result ============\n"
                func line(_ k: String, _ v: String) { out += k.padding(toLength: 40, withPad: " ", startingAt: 0) + v + "\n" }
                line("Successful requests:", "\(ok.count)")
                line("Failed requests:", "\(rs.count - ok.count)")
                line("Maximum request concurrency:", maxConcurrency.map(String.init) ?? "none")
                line("Benchmark duration (s):", String(format: "%.2f", duration))
                line("Total input tokens:", "\(inTok)")
                line("Total generated tokens:", "\(outTok)")
                line("Request throughput (req/s):", String(format: "%.2f", Double(ok.count) / duration))
                line("Output token throughput (tok/s):", String(format: "%.2f", Double(outTok) / duration))
                line("Total token throughput (tok/s):", String(format: "%.2f", Double(inTok + outTok) / duration))
                for (title, n, s) in [("Time to First Token", "TTFT", ttft), ("Time per Output Token (excl. 1st token)", "TPOT", tpot),
                                      ("Inter-token Latency", "ITL", itl), ("End-to-end Latency", "E2EL", e2el)] {
                    out += "-" * 16 + title + "-" * max(2, 34 - title.count) + "\n"
                    line("Mean \(n) (ms):", String(format: "%.2f", s.0))
                    line("Median \(n) (ms):", String(format: "%.2f", s.1))
                    line("P99 \(n) (ms):", String(format: "%.2f", s.2))
                }
                out += "=================================================="
                if let e = rs.first(where: { !$0.ok })?.error, !e.isEmpty { out += "\nfirst error: \(e)" }
                print(out)
            }
        }
    }

    final class ResultBox: @unchecked Sendable {
        let lock = NSLock()
        var all: [Serve.Result?]
        init(count: Int) { all = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ r: Serve.Result) { lock.lock(); all[i] = r; lock.unlock() }
    }
}

func * (s: String, n: Int) -> String { String(repeating: s, count: max(0, n)) }

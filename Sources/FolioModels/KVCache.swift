import Foundation
import CFolioKernels
import FolioWeights

/// Element type of the KV cache (vLLM's `--kv-cache-dtype`). `int8` and `fp8` (e4m3) keep one float scale per head
/// and token beside the 8-bit values.
public enum KVCacheDType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, int8, fp8

    /// vLLM's `auto`: the checkpoint's 16-bit type (bfloat16 for bfloat16 checkpoints, float16 otherwise).
    public static func auto(for config: ModelConfig) -> KVCacheDType {
        config.torchDtype == "bfloat16" ? .bfloat16 : .float16
    }

    /// Parses a `--kv-cache-dtype` value; nil for `auto`. Throws for an unknown name.
    public static func parse(_ s: String) throws -> KVCacheDType? {
        switch s.lowercased() {
        case "auto": return nil
        case "float32", "fp32", "float": return .float32
        case "float16", "fp16", "half": return .float16
        case "bfloat16", "bf16": return .bfloat16
        case "int8", "q8_0": return .int8
        case "fp8", "fp8_e4m3": return .fp8
        default:
            throw FolioError.invalidArgument(name: "kv_cache_dtype", message: "'\(s)' is not one of auto, float32, float16, bfloat16, int8, fp8, fp8_e4m3")
        }
    }

    var format: Int32 {
        switch self {
        case .float32: Int32(FOLIO_KV_F32)
        case .float16: Int32(FOLIO_KV_F16)
        case .bfloat16: Int32(FOLIO_KV_BF16)
        case .int8: Int32(FOLIO_KV_INT8)
        case .fp8: Int32(FOLIO_KV_FP8)
        }
    }

    /// Bytes per element.
    public var size: Int { Int(folio_kv_elem_size(format)) }
    /// int8/fp8: a float scale per head and token.
    public var hasScales: Bool { self == .int8 || self == .fp8 }
}

/// Key/value storage in fixed-size blocks: for each layer, K and V as [numBlocks, blockSize, kvDim] elements of
/// `dtype` (and for int8/fp8 one scale per slot and KV head). Sequences address it through block tables (vLLM's
/// paged attention layout); a token's K/V live at its slot `block * blockSize + offset`. Under multi-head latent
/// attention one row per token (the compressed latent and the rotary key) is both K and V (`sharesKV`).
public final class PagedKVCache: @unchecked Sendable {
    /// Tells caches apart across processes (tensor parallelism: each rank holds its heads of the same cache).
    public let id = PagedKVCache.nextID()
    public let numBlocks: Int
    public let blockSize: Int
    public let kvDim: Int
    public let numLayers: Int
    public let numKVHeads: Int
    public let headDim: Int
    public let dtype: KVCacheDType
    /// V is K's storage (latent attention): one row per token and layer.
    public let sharesKV: Bool
    var k: [UnsafeMutableRawPointer]
    var v: [UnsafeMutableRawPointer]
    /// int8/fp8: [slots, numKVHeads] scales per layer.
    var ks: [UnsafeMutablePointer<Float>] = []
    var vs: [UnsafeMutablePointer<Float>] = []

    static let counter = NSLock()
    nonisolated(unsafe) static var last = 0
    static func nextID() -> Int { counter.lock(); defer { counter.unlock() }; last += 1; return last }

    public init(config: ModelConfig, numBlocks: Int, blockSize: Int, dtype: KVCacheDType = .float32) {
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.dtype = dtype
        numKVHeads = config.cacheHeads
        headDim = config.cacheHeadDim
        kvDim = numKVHeads * headDim
        numLayers = config.numLayers
        sharesKV = config.cacheSharesKV
        let slots = numBlocks * blockSize
        let bytes = max(slots * kvDim * dtype.size, 1)
        k = (0..<config.numLayers).map { _ in .allocate(byteCount: bytes, alignment: 64) }
        v = sharesKV ? k : (0..<config.numLayers).map { _ in .allocate(byteCount: bytes, alignment: 64) }
        if dtype.hasScales {
            ks = (0..<config.numLayers).map { [numKVHeads] _ in .allocate(capacity: max(slots * numKVHeads, 1)) }
            vs = sharesKV ? ks : (0..<config.numLayers).map { [numKVHeads] _ in .allocate(capacity: max(slots * numKVHeads, 1)) }
        }
    }

    deinit {
        for p in sharesKV ? k : k + v { p.deallocate() }
        for p in sharesKV ? ks : ks + vs { p.deallocate() }
    }

    /// Bytes of K/V per token across all layers (scales included): for latent attention one row of
    /// kv_lora_rank + qk_rope_head_dim per layer.
    public static func bytesPerToken(_ c: ModelConfig, dtype: KVCacheDType) -> Int {
        (c.cacheSharesKV ? 1 : 2) * c.numLayers * (c.cacheHeads * c.cacheHeadDim * dtype.size + (dtype.hasScales ? c.cacheHeads * 4 : 0))
    }

    /// Copies block `src` into block `dst` in every layer (copy-on-write of a shared partial block).
    public func copyBlock(_ src: Int, to dst: Int) {
        let n = blockSize * kvDim * dtype.size, ns = blockSize * numKVHeads
        for l in 0..<numLayers {
            (k[l] + dst * n).copyMemory(from: k[l] + src * n, byteCount: n)
            if !sharesKV { (v[l] + dst * n).copyMemory(from: v[l] + src * n, byteCount: n) }
            if dtype.hasScales {
                (ks[l] + dst * ns).update(from: ks[l] + src * ns, count: ns)
                if !sharesKV { (vs[l] + dst * ns).update(from: vs[l] + src * ns, count: ns) }
            }
        }
    }

    /// Stores one token's K and V rows at `slot` of `layer`, converted to `dtype` once.
    func write(layer l: Int, slot: Int, k kRow: UnsafePointer<Float>, v vRow: UnsafePointer<Float>) {
        let off = slot * kvDim * dtype.size, so = slot * numKVHeads
        folio_kv_store(dtype.format, kRow, Int64(numKVHeads), Int64(headDim), k[l] + off, dtype.hasScales ? ks[l] + so : nil)
        if !sharesKV { folio_kv_store(dtype.format, vRow, Int64(numKVHeads), Int64(headDim), v[l] + off, dtype.hasScales ? vs[l] + so : nil) }
    }

    /// The row of KV head `h` at `slot` of `layer`'s K, as float32.
    func readK(layer l: Int, slot: Int, head h: Int = 0, into out: UnsafeMutablePointer<Float>) {
        let p = k[l] + (slot * kvDim + h * headDim) * dtype.size
        folio_kv_load(dtype.format, p, dtype.hasScales ? ks[l][slot * numKVHeads + h] : 1, Int64(headDim), out)
    }

    /// The kernels' view of KV head `h` of `layer`.
    func head(layer l: Int, _ h: Int) -> folio_kv_head {
        folio_kv_head(k: UnsafeRawPointer(k[l] + h * headDim * dtype.size), v: UnsafeRawPointer(v[l] + h * headDim * dtype.size),
                      ks: dtype.hasScales ? UnsafePointer(ks[l] + h) : nil, vs: dtype.hasScales ? UnsafePointer(vs[l] + h) : nil,
                      fmt: dtype.format, stride: Int64(kvDim), scale_stride: Int64(numKVHeads))
    }
}

/// Single-sequence cache for the reference path: one contiguous run of blocks.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    let paged: PagedKVCache
    /// Tokens whose K/V are stored.
    public internal(set) var count = 0

    public init(config: ModelConfig, capacity: Int, dtype: KVCacheDType = .float32) {
        self.capacity = capacity
        paged = PagedKVCache(config: config, numBlocks: 1, blockSize: max(capacity, 1), dtype: dtype)
    }

    /// Forgets positions from `n` on (to re-run from an earlier point).
    public func truncate(to n: Int) { count = min(count, max(0, n)) }
}

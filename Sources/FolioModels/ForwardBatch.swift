import FolioKernels

/// One step's ragged batch: the new tokens of every scheduled sequence, flattened.
public struct ForwardBatch: Sendable {
    /// [N] token ids and their positions in their sequences.
    public var tokens: [Int32] = []
    public var positions: [Int32] = []
    /// [N] which sequence (index into `blockTables`) each token belongs to.
    public var sequence: [Int32] = []
    /// [N] cache slot (block * blockSize + offset) where each token's K/V are written.
    public var slots: [Int32] = []
    /// Per sequence: its blocks, in order.
    public var blockTables: [[Int32]] = []
    /// Token indices whose logits are wanted.
    public var logitIndices: [Int] = []
    /// The LoRA adapters of this batch, and per sequence the index of its adapter there (-1: the base model).
    /// Empty: every sequence runs the base model.
    public var adapters: [LoRAAdapter] = []
    public var sequenceAdapter: [Int32] = []
    /// Model parallelism: KV blocks the other ranks copy (source, destination, ...) before this pass, as rank 0 did
    /// when it scheduled it (copy-on-write of a block that forked samples share).
    public var blockCopies: [Int32] = []
    public init() {}
}

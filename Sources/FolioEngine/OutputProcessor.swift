import FolioGrammar
import FolioModels
import FolioTokenizers
import Foundation

/// What a step's logits become: tokens sampled (or speculative tokens verified) and appended, stop conditions
/// checked, text detokenized, and each request's output (whole or delta) made.
final class OutputProcessor {
    let tokenizer: Tokenizer
    let eosIds: Set<Int32>
    let maxModelLen: Int
    let scheduler: Scheduler
    let speculator: Speculator?
    var generationTokens = 0

    init(tokenizer: Tokenizer, eosIds: Set<Int32>, maxModelLen: Int, scheduler: Scheduler, speculator: Speculator?) {
        self.tokenizer = tokenizer
        self.eosIds = eosIds
        self.maxModelLen = maxModelLen
        self.scheduler = scheduler
        self.speculator = speculator
    }

    /// Appends prompt logprobs for the prompt positions this step computed.
    func recordPromptLogprobs(_ b: StepBatch, _ logits: [[Float]], _ scheduled: [ScheduledSequence]) {
        for (s, first, row) in b.promptRows {
            let k = s.group.params.promptLogprobs ?? 0
            if s.group.promptLogprobs.isEmpty { s.group.promptLogprobs = [nil] }
            var r = row
            let computed = scheduled.first { $0.seq === s }?.numNew ?? 0
            for p in first..<min(first + computed, s.promptLength - 1) {
                s.group.promptLogprobs.append(Sampler.logprobs(logits[r], chosen: s.tokens[p + 1], k: k, tokenizer: tokenizer))
                r += 1
            }
            if s.group.promptLogprobs.count >= s.promptLength { s.group.promptLogprobsDone = true }
        }
    }

    /// Moves one scheduled sample past this step: its computed positions, new full blocks for the prefix cache,
    /// then (if its tokens are all computed) the next token, or the verified proposals and one more.
    func advance(_ sch: ScheduledSequence, _ b: StepBatch, _ logits: [[Float]], kv: KVCacheManager) {
        let s = sch.seq
        let row = b.sampleRow[ObjectIdentifier(s)]
        if sch.numSpec > 0, let row {
            let draft = s.draft, before = s.numComputed
            let accepted = RejectionSampler.verify(s, rows: logits[row...(row + draft.count)], draft: draft, draftProbs: s.draftProbs,
                                                   tokenizer: tokenizer, eos: eosIds) { t, l in self.appendToken(s, t, logits: l) }
            // K/V are right for the last real token and the accepted proposals; the rest is overwritten later.
            s.draft = []
            s.draftProbs = nil
            s.draftComputed += min(accepted, draft.count - 1)
            speculator?.record(s, proposed: draft.count, accepted: accepted)
            if !s.isFinished {
                s.numComputed = before + sch.numNew + accepted
                kv.cacheFullBlocks(s)
            }
            return
        }
        s.numComputed += sch.numNew
        kv.cacheFullBlocks(s)
        guard let row else { return }
        let l = logits[row]
        if s.index == 0, s.numOutput == 0 {
            // The prompt is done: the other samples share its blocks and draw from the same distribution.
            for sib in scheduler.startForks(of: s) { appendToken(sib, Sampler.sample(l, seq: sib, tokenizer: tokenizer, eos: eosIds), logits: l) }
        }
        appendToken(s, Sampler.sample(l, seq: s, tokenizer: tokenizer, eos: eosIds), logits: l)
    }

    /// Appends token `t` (drawn from `logits`) to sample `s`: logprobs, grammar, detokenized text, stop strings,
    /// EOS, stop ids, max_tokens and the context's end. Returns whether the sample goes on.
    @discardableResult
    func appendToken(_ s: EngineSequence, _ t: Int32, logits: [Float]) -> Bool {
        let g = s.group, p = g.params
        if g.metrics.firstToken == nil { g.metrics.firstToken = Date() }
        if let k = p.logprobs {
            let lp = Sampler.logprobs(logits, chosen: t, k: k, tokenizer: tokenizer)
            s.logprobs.append(lp)
            s.cumulativeLogprob += lp.chosen.logprob
        }
        s.append(t)
        generationTokens += 1
        if s.matcher != nil, !s.matcher!.accept(t, stopIds: g.prep.grammarStops) {
            // The sampler only draws allowed tokens; this is a bug, and it ends this sample, not the engine.
            g.error = "structured output: token \(t) does not continue the grammar"
            finish(s, .abort, nil)
            return false
        }
        let isEOS = !p.ignoreEOS && eosIds.contains(t)
        // The token that stops the output (EOS, a stop id) adds no text unless include_stop_str_in_output (vLLM's
        // detokenizer leaves it out, special or not).
        if !((isEOS || g.stopIds.contains(t)) && !p.includeStopStrInOutput) {
            let piece = s.detok.push(t)
            if !piece.isEmpty {
                let before = s.textScalars
                s.text += piece
                s.textScalars += piece.unicodeScalars.count
                s.startGrammarIfDue(textBefore: before)
                let maxStop = g.prep.maxStopScalars
                if maxStop > 0, let (at, len, stopStr) = findStop(s, before: before) {
                    let end = p.includeStopStrInOutput ? at + len : at
                    s.text = String(String.UnicodeScalarView(s.text.unicodeScalars.prefix(end)))
                    s.textScalars = end
                    finish(s, .stop, stopStr, stoppedByString: true)
                    return false
                }
            }
        }
        if isEOS { finish(s, .stop, nil); return false }
        if g.stopIds.contains(t) { finish(s, .stop, String(t)); return false }
        if s.numOutput >= g.maxTokens || s.tokens.count >= maxModelLen { finish(s, .length, nil); return false }
        // Complete, and no stop token may end it (ignore_eos without stop ids): the output is done.
        if let m = s.matcher, g.prep.grammarStops.isEmpty, m.mustEnd { finish(s, .stop, nil); return false }
        return true
    }

    /// The earliest stop string that ends in the text added since scalar `before`: (scalar offset, length, the string).
    /// Earlier text was checked when it was added, so only starts whose match reaches past `before` are tried:
    /// O(new text x stop length) per token, whatever the length of the output.
    func findStop(_ s: EngineSequence, before: Int) -> (Int, Int, String)? {
        let from = max(0, before - s.group.prep.maxStopScalars + 1)
        let v = s.text.unicodeScalars
        let tail = Array(v[v.index(v.endIndex, offsetBy: -(s.textScalars - from))...])
        var best: (Int, Int, String)? = nil
        for (si, st) in s.group.prep.stops.enumerated() where st.count <= tail.count {
            var i = max(0, before - st.count + 1) - from
            while i + st.count <= tail.count, best.map({ from + i < $0.0 }) ?? true {
                if tail[i] == st[0], tail[i..<(i + st.count)].elementsEqual(st) {
                    best = (from + i, st.count, s.group.params.stop[si])
                    break
                }
                i += 1
            }
        }
        return best
    }

    func finish(_ s: EngineSequence, _ reason: FinishReason, _ stop: String?, stoppedByString: Bool = false) {
        if !stoppedByString {
            let rest = s.detok.pendingText()
            s.text += rest
            s.textScalars += rest.unicodeScalars.count
        }
        s.finishReason = reason
        s.stopReason = stop
        s.status = .finished
        scheduler.remove(s)
        speculator?.finished(s)
    }

    func output(_ g: RequestGroup) -> RequestOutput {
        let holdBack = max(0, g.prep.maxStopScalars - 1)
        let kind = g.params.outputKind
        let outs = g.sequences.map { s -> CompletionOutput in
            // While running, hold back text that may be the start of a stop string.
            let visibleCount = s.isFinished ? s.textScalars : max(s.emittedChars, s.textScalars - holdBack)
            let v = s.text.unicodeScalars
            let from = v.index(v.endIndex, offsetBy: -(s.textScalars - s.emittedChars))
            let to = v.index(v.endIndex, offsetBy: -(s.textScalars - visibleCount))
            let delta = String(String.UnicodeScalarView(v[from..<to]))
            let deltaIds = Array(s.tokens[(s.promptLength + s.emittedTokens)...])
            let deltaLps = s.logprobs.count > s.emittedLogprobs ? Array(s.logprobs[s.emittedLogprobs...]) : []
            s.emittedChars = visibleCount
            s.emittedTokens = s.numOutput
            s.emittedLogprobs = s.logprobs.count
            let whole = kind != .delta
            let text = whole ? (visibleCount == s.textScalars ? s.text : String(String.UnicodeScalarView(v[..<to]))) : delta
            return CompletionOutput(index: s.index, text: text, tokenIds: whole ? Array(s.outputIds) : deltaIds, deltaText: delta,
                                    deltaTokenIds: deltaIds, numTokens: s.numOutput,
                                    cumulativeLogprob: g.params.logprobs != nil ? s.cumulativeLogprob : nil,
                                    logprobs: g.params.logprobs != nil ? (whole ? s.logprobs : deltaLps) : nil,
                                    finishReason: s.finishReason, stopReason: s.stopReason)
        }
        var promptLps: [PositionLogprobs?]? = nil
        if g.params.promptLogprobs != nil {
            // Prompt logprobs go out once: with the first output (delta) or in full (otherwise).
            promptLps = kind == .delta ? Array(g.promptLogprobs.dropFirst(g.promptLogprobsEmitted)) : g.promptLogprobs
            g.promptLogprobsEmitted = g.promptLogprobs.count
        }
        var r = RequestOutput(requestId: g.id, prompt: g.prompt, promptTokenIds: g.promptTokenIds, promptLogprobs: promptLps, outputs: outs,
                              finished: g.finished, numCachedTokens: g.sequences.map(\.numCachedTokens).max() ?? 0, metrics: g.metrics)
        r.error = g.error
        return r
    }
}

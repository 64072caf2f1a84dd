import FolioGrammar
import FolioTestSupport
import FolioWeights
import Foundation
import Testing

func regex(_ r: String) throws -> CompiledGrammar { try CompiledGrammar.bytes(Regex.grammar(r)) }
func ebnf(_ g: String) throws -> CompiledGrammar { try CompiledGrammar.bytes(EBNF.parse(g)) }
func regexError(_ r: String) -> String? {
    do { _ = try regex(r); return nil } catch let e as GrammarError { return e.message } catch { return "\(error)" }
}
func ebnfError(_ g: String) -> String? {
    do { _ = try ebnf(g); return nil } catch let e as GrammarError { return e.message } catch { return "\(error)" }
}

@Suite("Regular expressions")
struct RegexTests {
    @Test("literals, classes, escapes, dot, groups, alternation, quantifiers, anchors")
    func constructs() throws {
        check(try regex("abc"), yes: ["abc"], no: ["ab", "abcd"])
        check(try regex("[a-c]x[^0-9]"), yes: ["axz", "cx-"], no: ["dxz", "ax5"])
        check(try regex(#"\d\w\s\D\W\S"#), yes: ["1a x!é", "9_\u{3000}-.x"], no: ["aa xx!", "1a x!1 "])
        check(try regex(#"[\d.-]+"#), yes: ["1.5-2"], no: ["a"])
        check(try regex("a.c"), yes: ["abc", "a\nc", "aéc"], no: ["ac"])
        check(try regex("(ab|cd)*e"), yes: ["e", "abcde", "cdcdabe"], no: ["abc", "ace"])
        check(try regex("(?:x|y)+(?P<n>z)?"), yes: ["xyx", "yz"], no: ["z", ""])
        check(try regex("a{3}b{2,}c{1,2}d?e*f+"), yes: ["aaabbcf", "aaabbbbccdeeeff"], no: ["aabbcf", "aaabcf", "aaabbcccf"])
        check(try regex("x+?y*?z??"), yes: ["xxyz", "x"], no: ["y"])
        check(try regex("^hi$"), yes: ["hi"], no: ["hi$"])
        check(try regex(#"\(\d{3}\) \d{3}-\d{4}"#), yes: ["(555) 123-4567"], no: ["555 123-4567"])
        check(try regex(#"[α-ω]+\u00e9\x41"#), yes: ["αβωéA"], no: ["abéA"])
        check(try regex("a{,2}"), yes: ["a{,2}"], no: ["aa"])  // not a repetition in Python's re: literal braces
    }

    @Test("what cannot be a regular token constraint is an error naming it")
    func errors() {
        #expect(regexError("(?=a)b") == "regex at 2: lookahead is not supported")
        #expect(regexError("(?<=a)b") == "regex at 2: lookbehind is not supported")
        #expect(regexError(#"(a)\1"#) == "regex at 5: backreferences are not supported")
        #expect(regexError(#"\bword"#) == #"regex at 2: word boundaries (\b) are not supported"#)
        #expect(regexError("(a") == "regex at 2: missing )")
        #expect(regexError("a)") == "regex at 1: unbalanced )")
        #expect(regexError("*a") == "regex at 0: nothing to repeat")
        #expect(regexError("[b-a]") == "regex at 4: character range is out of order")
        #expect(regexError("a{5,2}") == "regex at 6: {5,2}: the upper bound is below the lower")
        #expect(regexError("a++") == "regex at 2: possessive quantifiers are not supported")
        #expect(regexError("a^b") == "regex at 1: anchors are only supported at the ends")
    }
}

@Suite("EBNF grammars")
struct EBNFTests {
    @Test("rules, alternation, groups, strings with escapes, classes, dot, repetition forms, comments, lookahead")
    func constructs() throws {
        let g = try ebnf(#"""
        # a list of numbers or words
        root ::= "[" ws (item (ws "," ws item)*)? ws "]"
        item ::= [0-9]+ | word
        word ::= [a-zA-Z_] [a-zA-Z_0-9]{0,3} (=([ ,\]]))
        ws   ::= [ \t\n]*
        """#)
        check(g, yes: ["[]", "[1, ab_9 ,22]", "[\tx]"], no: ["[1,]", "[abcdef]", "[1 2]"])
        check(try ebnf(#"root ::= "a\"\\\n\t\x41\u00e9" . [^a-z]"#), yes: ["a\"\\\n\tAéx!"], no: ["a\"\\\n\tAéxa"])
        check(try ebnf("root ::= x{2} y{1,} z{0, -1} w{1,2}\nx ::= \"x\"\ny ::= \"y\"\nz ::= \"z\"\nw ::= \"w\""),
              yes: ["xxyw", "xxyyyzzww"], no: ["xyw", "xxw", "xxywww"])
        check(try ebnf("root ::= a\n  | b\na ::= \"1\"\nb ::= 'two'"), yes: ["1", "two"], no: ["1two"])
        check(try ebnf(#"root ::= "(" root ")" | """#), yes: ["", "(())"], no: ["(()"])
    }

    @Test("errors name the rule or the line")
    func errors() {
        #expect(ebnfError(#"root ::= foo"#) == "EBNF: rule foo is used but not defined")
        #expect(ebnfError("x ::= \"a\"") == "EBNF: the grammar has no root rule")
        #expect(ebnfError("root ::= \"a\"\nroot ::= \"b\"") == "EBNF line 2: rule root is defined twice")
        #expect(ebnfError("root ::= \"abc") == "EBNF line 1: unterminated string")
        #expect(ebnfError("root ::= root \"a\" | \"b\"") == "rule root is left-recursive (it can reach itself without reading a character)")
        #expect(ebnfError("root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"b\"") == "rule a is left-recursive (it can reach itself without reading a character)")
        #expect(ebnfError("root ::= loop\nloop ::= \"a\" loop") == "the grammar matches nothing (rule root)")
        #expect(ebnfError(#"root ::= [z-a]"#) == "EBNF line 1: character range is out of order")
        #expect(ebnfError(#"root ::= "a"{3,1}"#) == "EBNF line 1: repetition {3,1}: the upper bound is below the lower")
        #expect(ebnfError(#"root ::= "a"{99999}"#) == "EBNF line 1: repetition counts are limited to 10000")
        #expect(ebnfError("root ::= " + String(repeating: "(", count: 300) + "\"a\"" + String(repeating: ")", count: 300)) == "EBNF line 1: nested more than 200 deep")
    }

    @Test("an automaton too large to build is an error, in bounded time")
    func tooLarge() {
        // (a|b)*a(a|b){20}: a DFA needs 2^21 states.
        let start = Date()
        #expect(regexError("(a|b)*a(a|b){20}") == "the grammar is too large (over 100000 automaton states)")
        #expect(Date().timeIntervalSince(start) < 60)
    }
}

@Suite("Token masks")
struct TokenMaskTests {
    // 0 "a", 1 "b", 2 "ab", 3 "abc", 4 "c", 5 "\"", 6 "{\"", 7 special, 8 stop
    static let vocab = TokenVocabulary(tokens: [Array("a".utf8), Array("b".utf8), Array("ab".utf8), Array("abc".utf8), Array("c".utf8),
                                                [0x22], Array("{\"".utf8), nil, nil])
    static let stop: [Int32] = [8]

    @Test("multi-byte tokens, stop tokens exactly when complete, special tokens never, matchers are values")
    func masks() throws {
        let g = try CompiledGrammar(Regex.grammar("(ab)+c?"), vocabulary: Self.vocab)
        var m = g.matcher()
        #expect(m.allowedTokens(stopIds: Self.stop) == [0, 2, 3])
        let ok1 = m.accept(2, stopIds: Self.stop)
        #expect(ok1)
        #expect(m.allowedTokens(stopIds: Self.stop) == [0, 2, 3, 4, 8])
        let fork = m
        let ok2 = m.accept(4, stopIds: Self.stop)
        #expect(ok2)
        #expect(m.allowedTokens(stopIds: Self.stop) == [8] && m.mustEnd)
        let ok3 = m.accept(0, stopIds: Self.stop)
        #expect(!ok3)
        let ok4 = m.accept(8, stopIds: Self.stop)
        #expect(ok4 && m.isTerminated && m.allowedTokens(stopIds: Self.stop).isEmpty)
        // The copy taken before is where it was.
        #expect(fork.allowedTokens(stopIds: Self.stop) == [0, 2, 3, 4, 8])
        var early = g.matcher()
        let ok5 = early.accept(8, stopIds: Self.stop)
        #expect(!ok5)  // a stop token before the output is complete
    }

    @Test("tokens that leave a rule are checked against the stack below it")
    func uncertain() throws {
        // In "str", a token closing the string then opening another ("\"" then "{\"") depends on what follows.
        let g = try CompiledGrammar(EBNF.parse(#"root ::= "{" str "}" | "{" str "a"\#nstr ::= "\"" [a-c]* "\"""#), vocabulary: Self.vocab)
        var m = g.matcher()
        #expect(m.allowedTokens(stopIds: Self.stop) == [6])
        let ok6 = m.accept(6, stopIds: Self.stop)
        #expect(ok6)
        #expect(m.allowedTokens(stopIds: Self.stop) == [0, 1, 2, 3, 4, 5])
        let ok7 = m.accept(5, stopIds: Self.stop)
        #expect(ok7)
        #expect(m.allowedTokens(stopIds: Self.stop) == [0])
    }
}

@Suite("Grammar fuzzing")
struct GrammarFuzzTests {
    @Test("mutated schemas, regexes and grammars compile or fail with an error, never crash or hang")
    func fuzz() throws {
        var f = Fuzzer("grammar", iterations: 1500)
        let seeds: [(String, (String) throws -> Void)] = [
            (##"{"type": "object", "properties": {"a": {"type": "integer", "minimum": -3, "maximum": 99}, "b": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 3}, "c": {"anyOf": [{"$ref": "#/$defs/x"}, {"type": "null"}]}}, "required": ["a"], "$defs": {"x": {"type": "number", "exclusiveMinimum": 0.5}}}"##,
             { _ = try CompiledGrammar.bytes(JSONSchema.grammar(JSONValue.parse(Data($0.utf8)))) }),
            (#"^(\d{1,3}\.){3}[a-f0-9]+(x|yz)*[^\s"]?\w{2,4}$"#, { _ = try CompiledGrammar.bytes(Regex.grammar($0)) }),
            ("root ::= \"[\" ws (v (ws \",\" ws v)*)? \"]\"\nv ::= [0-9]+ | \"'\" [^']{0,5} \"'\" | root\nws ::= [ \\n]*",
             { _ = try CompiledGrammar.bytes(EBNF.parse($0)) }),
        ]
        var compiled = 0, rejected = 0
        for i in 0..<f.iterations {
            let (text, compile) = seeds[i % seeds.count]
            let bytes = i % 3 == 0 ? f.mutateJSON(text) : f.mutate(Array(text.utf8))
            // GrammarError: the schema/regex/grammar is refused; JSONParser.Failure: the JSON does not parse (the API answers
            // 400 before any grammar work). Anything else fails the test.
            do { try compile(String(decoding: bytes, as: UTF8.self)); compiled += 1 } catch is GrammarError { rejected += 1 } catch is JSONParser.Failure { rejected += 1 }
        }
        print("fuzz grammar: \(compiled) compiled, \(rejected) rejected")
        #expect(compiled + rejected == f.iterations)
    }
}

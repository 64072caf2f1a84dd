import FolioGrammar
import FolioModels
import FolioTestSupport
import FolioWeights
import Foundation
import Testing

func schema(_ text: String) throws -> CompiledGrammar {
    try CompiledGrammar.bytes(JSONSchema.grammar(JSONValue.parse(Data(text.utf8))))
}

func schemaError(_ text: String) -> String? {
    do { _ = try schema(text); return nil } catch let e as GrammarError { return e.message } catch { return "\(error)" }
}

/// Asserts which texts a grammar matches completely.
func check(_ g: CompiledGrammar, yes: [String], no: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    for s in yes { #expect(g.match(s).complete, "should match: \(s)", sourceLocation: sourceLocation) }
    for s in no { #expect(!g.match(s).complete, "should not match: \(s)", sourceLocation: sourceLocation) }
}

@Suite("JSON Schema keywords")
struct JSONSchemaTests {
    @Test("type: each type, lists of types, and no type (any JSON)")
    func types() throws {
        check(try schema(#"{"type": "string"}"#), yes: [#""""#, #""a b""#, #""\n\"\u00e9""#, "\"é✓\""], no: ["\"a", "a", "\"\u{1}\"", #""\x""#])
        check(try schema(#"{"type": "integer"}"#), yes: ["0", "-7", "123"], no: ["01", "-0", "1.0", "1e3", "+1", ""])
        check(try schema(#"{"type": "number"}"#), yes: ["0", "-0.5", "1e3", "2.5E-7", "-0"], no: ["01", ".5", "1.", "1e", "--1"])
        check(try schema(#"{"type": "boolean"}"#), yes: ["true", "false"], no: ["True", "1"])
        check(try schema(#"{"type": "null"}"#), yes: ["null"], no: ["None", ""])
        check(try schema(#"{"type": ["integer", "null"]}"#), yes: ["3", "null"], no: ["\"3\"", "true"])
        check(try schema("{}"), yes: ["1", "{\"a\": [1, {\"b\": null}]}", "\"x\"", "[ ]"], no: ["{a: 1}", "[1,]"])
        check(try schema("true"), yes: ["[true, false]"], no: ["tru"])
    }

    @Test("properties in order, required, optional ones skipped, additionalProperties false / true / schema")
    func objects() throws {
        let g = try schema(#"{"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["b"]}"#)
        check(g, yes: [#"{"b": "x"}"#, #"{"a": 1, "b": "x"}"#, #"{"a":1,"b":"x","c":true}"#, "{\n  \"b\" : \"\",\n  \"c\": false\n}"],
              no: [#"{"a": 1}"#, #"{"b": "x", "a": 1}"#, #"{}"#, #"{"b": "x", "d": 1}"#, #"{"b": 1}"#])
        let open = try schema(#"{"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": true}"#)
        check(open, yes: [#"{"a": 1, "zz": [1]}"#, #"{"q": null}"#, "{}", #"{"ab": "x", "": 1}"#], no: [#"{"a": "x"}"#, #"{"b": 1, "a": 2}"#])
        let typed = try schema(#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": {"type": "number"}}"#)
        check(typed, yes: [#"{"a": 1, "x": 2.5}"#], no: [#"{"a": 1, "x": "s"}"#, #"{"x": 2}"#])
        check(try schema(#"{"type": "object"}"#), yes: ["{}", #"{"k": {"n": [1]}}"#], no: ["[]"])
        #expect(schemaError(#"{"type": "object", "properties": {"a": {}}, "required": ["b"]}"#) == #"JSON schema: required property "b" is not in properties"#)
    }

    @Test("enum, const, anyOf, oneOf, allOf of objects, nullable")
    func combinators() throws {
        check(try schema(#"{"enum": ["a", 1, null, {"x": [true]}]}"#), yes: [#""a""#, "1", "null", #"{"x":[true]}"#], no: [#""b""#, "2"])
        check(try schema(#"{"const": "hi \"there\""}"#), yes: [#""hi \"there\"""#], no: [#""hi""#])
        check(try schema(#"{"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]}"#), yes: ["5", #""x""#], no: [#""xy""#, "true"])
        check(try schema(#"{"oneOf": [{"const": 1}, {"const": 2}]}"#), yes: ["1", "2"], no: ["3"])
        let all = try schema(#"{"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"properties": {"b": {"type": "string"}}, "required": ["b"]}]}"#)
        check(all, yes: [#"{"a": 1, "b": "x"}"#], no: [#"{"a": 1}"#, #"{"b": "x"}"#])
        check(try schema(#"{"type": "string", "nullable": true}"#), yes: [#""s""#, "null"], no: ["1"])
        #expect(schemaError(#"{"allOf": [{"type": "string"}, {"type": "integer"}]}"#) == "JSON schema: allOf is supported for object schemas only")
    }

    @Test("$ref to $defs and definitions, recursive")
    func refs() throws {
        let tree = try schema(##"{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}}, "$ref": "#/$defs/node"}"##)
        check(tree, yes: [#"{"v": 1}"#, #"{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}, {"v": 4}]}"#], no: [#"{"v": 1, "kids": [{}]}"#])
        check(try schema(##"{"definitions": {"n": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/definitions/n"}}"##), yes: ["[1, 2]"], no: [##"["1"]"##])
        check(try schema(##"{"type": "object", "properties": {"self": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["self"]}"##),
              yes: [#"{"self": {"self": null}}"#], no: [#"{"self": {}}"#])
        #expect(schemaError(##"{"$ref": "#/$defs/missing"}"##) == "JSON schema: $ref #/$defs/missing does not resolve")
        #expect(schemaError(#"{"$ref": "https://example.com/s.json"}"#) == "JSON schema: $ref https://example.com/s.json: only references within the schema (#/...) are supported")
    }

    @Test("items, prefixItems, minItems, maxItems")
    func arrays() throws {
        check(try schema(#"{"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}"#),
              yes: ["[1]", "[1, 2, 3]", "[ 1 ,2 ]"], no: ["[]", "[1, 2, 3, 4]", "[1,]", #"["a"]"#])
        check(try schema(#"{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]}"#),
              yes: ["[]", "[1]", "[1, true]"], no: ["[true]", "[1, true, 2]"])
        check(try schema(#"{"type": "array", "prefixItems": [{"type": "integer"}], "items": {"type": "string"}, "minItems": 2}"#),
              yes: [#"[1, "a"]"#, #"[1, "a", "b"]"#], no: ["[1]", #"["a", "b"]"#])
        check(try schema(#"{"type": "array", "maxItems": 0}"#), yes: ["[]", "[ ]"], no: ["[1]"])
        #expect(schemaError(#"{"type": "array", "minItems": 3, "maxItems": 2}"#) == "JSON schema: no array satisfies minItems 3 and maxItems 2")
    }

    @Test("minLength, maxLength (characters, escapes count as one), pattern (escaped as JSON), format")
    func strings() throws {
        check(try schema(#"{"type": "string", "minLength": 2, "maxLength": 3}"#), yes: [#""ab""#, #""a\nb""#, "\"é✓x\""], no: [#""a""#, #""abcd""#])
        check(try schema(#"{"type": "string", "pattern": "^[a-z]+\"?\\d{2}$"}"#), yes: [#""ab12""#, #""ab\"12""#], no: [#""ab"12""#, #""AB12""#])
        check(try schema(#"{"type": "string", "format": "date"}"#), yes: [#""2024-02-29""#], no: [#""2024-13-01""#, #""24-01-01""#])
        check(try schema(#"{"type": "string", "format": "time"}"#), yes: [#""23:59:60.5Z""#, #""08:00:00+05:30""#], no: [#""24:00:00Z""#, #""08:00:00""#])
        check(try schema(#"{"type": "string", "format": "date-time"}"#), yes: [#""2024-01-01T10:00:00Z""#], no: [#""2024-01-01 10:00:00Z""#])
        check(try schema(#"{"type": "string", "format": "uuid"}"#), yes: [#""123e4567-e89b-12d3-a456-426614174000""#], no: [#""123e4567e89b12d3a456426614174000""#])
        check(try schema(#"{"type": "string", "format": "email"}"#), yes: [#""a.b+c@ex-ample.com""#], no: [#""a@b@c""#, #""@x.com""#])
        check(try schema(#"{"type": "string", "format": "ipv4"}"#), yes: [#""192.168.0.1""#, #""255.255.255.255""#], no: [#""256.1.1.1""#, #""1.2.3""#])
        check(try schema(#"{"type": "string", "format": "hostname"}"#), yes: [#""my-host.example.org""#], no: [#""-bad.com""#])
        #expect(schemaError(#"{"type": "string", "format": "color"}"#)?.hasPrefix(#"JSON schema: format "color" is not supported"#) == true)
    }

    @Test("integer bounds: every integer in a window against the predicate")
    func integerBounds() throws {
        for (text, ok) in [(#"{"type": "integer", "minimum": -5, "maximum": 123}"#, { (x: Int) in x >= -5 && x <= 123 }),
                           (#"{"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 1000}"#, { x in x > 3 && x < 1000 }),
                           (#"{"type": "integer", "minimum": 7}"#, { x in x >= 7 }),
                           (#"{"type": "integer", "maximum": -12}"#, { x in x <= -12 }),
                           (#"{"type": "integer", "minimum": 2.5, "maximum": 99.5}"#, { x in x >= 3 && x <= 99 })] {
            let g = try schema(text)
            for x in -1200...1200 { #expect(g.match(String(x)).complete == ok(x), "\(text): \(x)") }
            #expect(!g.match("007").complete && !g.match("-0").complete)
        }
        #expect(schemaError(#"{"type": "integer", "minimum": 5, "maximum": 4}"#) == "JSON schema: no integer satisfies the bounds")
    }

    @Test("number bounds with fractions, inclusive and exclusive, on random decimals")
    func numberBounds() throws {
        let seed = ProcessInfo.processInfo.environment["FOLIO_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        var rng = SeededRandom(seed: seed)
        print("number bounds: seed \(seed) (FOLIO_FUZZ_SEED=\(seed) reproduces)")
        let cases: [(String, (Double) -> Bool)] = [
            (#"{"type": "number", "minimum": 0.5, "maximum": 10}"#, { $0 >= 0.5 && $0 <= 10 }),
            (#"{"type": "number", "exclusiveMinimum": -2.25, "exclusiveMaximum": 3.125}"#, { $0 > -2.25 && $0 < 3.125 }),
            (#"{"type": "number", "minimum": -1.5}"#, { $0 >= -1.5 }),
            (#"{"type": "number", "exclusiveMaximum": 0}"#, { $0 < 0 }),
            (#"{"type": "number", "exclusiveMinimum": 0, "maximum": 0.75}"#, { $0 > 0 && $0 <= 0.75 }),
            (#"{"type": "number", "minimum": 0.2, "maximum": 0.35}"#, { $0 >= 0.2 && $0 <= 0.35 }),
        ]
        for (text, ok) in cases {
            let g = try schema(text)
            for _ in 0..<3000 {
                // Decimals with up to 4 integer and 5 fraction digits, biased toward the bounds' neighbourhood.
                let neg = rng.next() % 2 == 0
                let ip = Int(rng.next() % (rng.next() % 3 == 0 ? 12 : 4))
                let fd = Int(rng.next() % 6)
                var s = (neg ? "-" : "") + String(ip)
                if fd > 0 { s += "." + (0..<fd).map { _ in String(rng.next() % 10) }.joined() }
                let x = Double(s)!
                #expect(g.match(s).complete == ok(x), "\(text): \(s)")
            }
        }
        #expect(schemaError(#"{"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}"#) == "JSON schema: no number satisfies the bounds")
    }

    @Test("unsupported keywords are errors naming the keyword")
    func unsupported() throws {
        for k in ["not", "if", "patternProperties", "minProperties", "uniqueItems", "multipleOf", "contains"] {
            let v = k == "uniqueItems" ? "true" : k == "multipleOf" || k == "minProperties" ? "2" : "{}"
            let t = k == "uniqueItems" || k == "contains" ? "array" : k == "multipleOf" ? "number" : "object"
            #expect(schemaError(#"{"type": "\#(t)", "\#(k)": \#(v)}"#) == #"JSON schema: the keyword "\#(k)" is not supported"#)
        }
        #expect(schemaError(#"{"type": "tuple"}"#) == #"JSON schema: unknown type "tuple""#)
        // Words that are not JSON Schema keywords are ignored, as the specification says (Berkeley's function docs
        // write "optional" lists; OpenAPI writes x- extensions).
        #expect(schemaError(#"{"type": "object", "properties": {"a": {"type": "integer", "x-unit": "cm"}}, "optional": ["a"]}"#) == nil)
        #expect(schemaError("[1]") == "JSON schema: a schema must be an object or a boolean, got [1]")
    }
}


import Foundation
import Testing

@testable import SegmentationEngine

@Suite("CSV reader")
struct CSVReaderTests {
    // Expected rows are what Python's csv module returns for the same bytes.
    @Test(
        "RFC 4180 edge cases read as Python's csv reads them",
        arguments: [
            ("a,b\r\n1,2\r\n", [["a", "b"], ["1", "2"]]),
            ("\u{FEFF}a,b\n1,2\n", [["a", "b"], ["1", "2"]]),
            ("a,b\n1,2", [["a", "b"], ["1", "2"]]),
            ("a,b\n\"x, \"\"y\"\"\nz\",2\n", [["a", "b"], ["x, \"y\"\nz", "2"]]),
            ("a,b\n\n1,2\n\n", [["a", "b"], ["1", "2"]]),
            ("a,b,c\n,,\n", [["a", "b", "c"], ["", "", ""]]),
            ("a,b\r1,2\r", [["a", "b"], ["1", "2"]]),
            ("a\n\"ab\"c\n", [["a"], ["abc"]]),
            ("a\nab\"c\n", [["a"], ["ab\"c"]]),
            ("a,b\n\"\",\"\"\n", [["a", "b"], ["", ""]]),
            ("a,b\n\"1\r\n2\",3\r\n", [["a", "b"], ["1\r\n2", "3"]]),
        ])
    func edgeCases(input: String, expected: [[String]]) throws {
        #expect(try CSVReader.rows(of: input) == expected)
    }

    @Test("Chunk boundaries anywhere give the same records")
    func chunking() throws {
        let text = "\u{FEFF}id,text\r\n1,\"a,\"\"b\"\"\r\nc\"\r\n2,plain\r\n3,\"\"\r\n"
        let bytes = Array(text.utf8)
        let whole = try CSVReader.rows(of: text)
        for size in 1...bytes.count {
            var parser = CSVParser(source: "t")
            var rows: [[String]] = []
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + size)
                Array(bytes[start..<end]).withUnsafeBufferPointer { chunk in
                    parser.feed(chunk) { record in
                        rows.append((0..<record.count).map { record.string($0) })
                    }
                }
                start = end
            }
            try parser.finish { record in rows.append((0..<record.count).map { record.string($0) })
            }
            #expect(rows == whole, "chunk size \(size)")
        }
    }

    @Test("Line numbers count the lines a quoted field spans")
    func lineNumbers() throws {
        var lines: [Int] = []
        try CSVReader.forEachRecord(in: Array("h\n\"a\nb\"\nc\n\nd\n".utf8)) {
            lines.append($0.line)
        }
        #expect(lines == [1, 2, 4, 6])
    }

    @Test("An unclosed quote is an error naming its line")
    func unterminatedQuote() {
        #expect(throws: CSVError.unterminatedQuote(source: "input", line: 2)) {
            try CSVReader.rows(of: "a\n\"open\n")
        }
    }

    @Test(
        "Numbers parse from bytes like Python's float",
        arguments: [
            ("2.55", 2.55), ("3.", 3.0), (".5", 0.5), ("-0.0001", -0.0001), ("17850.0", 17850.0),
            (" 42 ", 42.0), ("1e3", 1000.0), ("0.1", 0.1),
            ("123456789012345678", 123456789012345678.0),
            ("+7", 7.0), ("0.000000000000000000000001", 1e-24),
        ])
    func numbers(text: String, expected: Double) {
        #expect(NumberParser.parse(text) == expected)
    }

    @Test(
        "Non-numbers are rejected",
        arguments: ["", "abc", "nan", "inf", "1,5", "0x10", "1.2.3", "-", "."])
    func notNumbers(text: String) {
        #expect(NumberParser.parse(text) == nil)
    }

    @Test("Timestamps in every accepted format")
    func timestamps() {
        let expected = TimestampParser.parse("2010-12-01 08:26:00")!
        #expect(
            expected == Int64(TimestampParser.daysFromCivil(2010, 12, 1)) * 86_400 + 8 * 3600 + 26
                * 60)
        #expect(TimestampParser.parse("12/1/2010 8:26") == expected)
        #expect(TimestampParser.parse("2010-12-01T08:26:00Z") == expected)
        #expect(TimestampParser.parse("2010-12-01T09:26:00+01:00") == expected)
        #expect(TimestampParser.parse("2010-12-01T08:26:00.250") == expected)
        #expect(TimestampParser.parse("20101201") == expected - (8 * 3600 + 26 * 60))
        #expect(TimestampParser.parse("2010-12-01") == expected - (8 * 3600 + 26 * 60))
        for bad in ["2010-13-01", "2011-02-29", "12/32/2010", "yesterday", "2010-12-01 25:00", ""] {
            #expect(TimestampParser.parse(bad) == nil, "\(bad)")
        }
        #expect(
            TimestampParser.isoDate(day: TimestampParser.day(ofDate: "2011-12-10")!) == "2011-12-10"
        )
        #expect(TimestampParser.day(of: -1) == -1)
    }
}

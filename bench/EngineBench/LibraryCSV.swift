import CSV
import Foundation

/// Reads a CSV file with yaslab/CSV.swift (`CSVReader(string:)`, its fastest mode here).
func readWithCSVSwift(_ path: String, _ body: ([String]) -> Void) throws {
    let reader = try CSVReader(
        string: try String(contentsOfFile: path, encoding: .utf8), hasHeaderRow: true)
    while let row = reader.next() { body(row) }
}

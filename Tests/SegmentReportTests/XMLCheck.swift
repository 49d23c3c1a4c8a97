import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Well-formedness by a real XML parser (Foundation's, libxml2 underneath).
enum XMLCheck {
    struct NotWellFormed: Error, CustomStringConvertible {
        var description: String
    }

    static func wellFormed(_ xml: String) throws {
        let parser = XMLParser(data: Data(xml.utf8))
        guard parser.parse() else {
            throw NotWellFormed(
                description: "line \(parser.lineNumber), column \(parser.columnNumber): "
                    + "\(parser.parserError.map { String(describing: $0) } ?? "unknown error")")
        }
    }
}

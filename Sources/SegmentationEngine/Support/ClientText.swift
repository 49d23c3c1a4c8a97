/// A client's text (a name, a cell, an id) inside an error message: escaped and bounded, so a
/// message never carries control characters or more than 64 bytes of what a client sent.
extension String {
    /// The most bytes of one piece of client text a message shows.
    public static let messageEchoBytes = 64

    /// At most `bytes` bytes of UTF-8, cut at a scalar boundary (a character may be a thousand
    /// bytes of combining marks, so counting characters bounds nothing).
    public func cutToUTF8(_ bytes: Int) -> String {
        guard utf8.count > bytes else { return self }
        var result = ""
        var used = 0
        for scalar in unicodeScalars {
            let size = String(scalar).utf8.count
            if used + size > bytes { break }
            result.unicodeScalars.append(scalar)
            used += size
        }
        return result
    }

    /// Escaped (`\n`, `\0`), and cut at 64 bytes with the full length said: `abc... (400 bytes)`.
    public var forMessage: String { shownForMessage(quote: "") }

    /// `forMessage` in single quotes: `'abc'`, `'abc...' (400 bytes)`.
    public var quotedForMessage: String { shownForMessage(quote: "'") }

    private func shownForMessage(quote: String) -> String {
        let shown = cutToUTF8(Self.messageEchoBytes)
        let escaped = shown.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F ? $0.escaped(asASCII: true) : String($0)
        }.joined()
        return shown.utf8.count == utf8.count
            ? quote + escaped + quote : "\(quote)\(escaped)...\(quote) (\(utf8.count) bytes)"
    }
}

extension Array where Element == String {
    /// Client names in a message: each bounded, at most `count` of them, the rest counted.
    public func forMessage(first count: Int = 20) -> String {
        prefix(count).map(\.forMessage).joined(separator: ", ")
            + (self.count > count ? ", ... (\(self.count) in all)" : "")
    }
}

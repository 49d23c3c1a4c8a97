import Crypto
import Foundation
import Synchronization

/// Bearer tokens by the SHA-256 of their text, each with a role, read from a file of
/// `role:sha256-hex` lines (`#` comments and blank lines allowed). Plain tokens are never stored
/// or logged. `reload()` re-reads the file (the server calls it on SIGHUP), so tokens rotate
/// without a restart; a file that fails to read keeps the tokens in force.
public final class TokenStore: Sendable {
    public let path: String
    private let tokens = Mutex<[(digest: [UInt8], role: Role)]>([])

    public init(path: String) throws {
        self.path = path
        try reload()
    }

    /// Re-reads the file; returns how many tokens are in force.
    @discardableResult
    public func reload() throws -> Int {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw TokenFileError.unreadable(
                "cannot read the tokens file: \(error.localizedDescription)")
        }
        var parsed: [(digest: [UInt8], role: Role)] = []
        for (number, raw) in text.split(
            omittingEmptySubsequences: false, whereSeparator: \.isNewline
        ).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)  // CRLF files too
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let role = Role(rawValue: parts[0]),
                let digest = Self.bytes(hex: parts[1]), digest.count == 32
            else {
                throw TokenFileError.badLine(
                    "tokens file line \(number + 1) must be 'role:sha256-hex' with a role of "
                        + Role.allCases.map(\.rawValue).joined(separator: ", "))
            }
            parsed.append((digest, role))
        }
        // No token would refuse every call but health's: surely a mistake, so say so (a reload
        // keeps the tokens in force).
        guard !parsed.isEmpty else {
            throw TokenFileError.badLine(
                "the tokens file \(path) names no token, so every call would be refused; "
                    + "add 'role:SHA-256-hex-of-token' lines (docs/operations.md: Tokens and roles)"
            )
        }
        tokens.withLock { $0 = parsed }
        return parsed.count
    }

    /// The role of a presented token, or nil. Every stored digest is compared in full, in
    /// constant time, whatever matches: the time taken says nothing about the tokens.
    func role(of token: String) -> Role? {
        let digest = Array(SHA256.hash(data: Data(token.utf8)))
        return tokens.withLock { entries in
            var found: Role?
            for entry in entries {
                var difference: UInt8 = 0
                for (a, b) in zip(entry.digest, digest) { difference |= a ^ b }
                if difference == 0 && found == nil { found = entry.role }
            }
            return found
        }
    }

    /// "role:hex" for a token: what an operator writes into the file.
    public static func line(role: Role, token: String) -> String {
        role.rawValue + ":"
            + SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let characters = Array(hex.lowercased().utf8)
        guard characters.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard
                let byte = UInt8(
                    String(decoding: characters[index...index + 1], as: UTF8.self), radix: 16)
            else { return nil }
            out.append(byte)
        }
        return out
    }
}

public enum TokenFileError: Error, CustomStringConvertible {
    case unreadable(String)
    case badLine(String)

    public var description: String {
        switch self {
        case .unreadable(let message), .badLine(let message): message
        }
    }
}

import Foundation

/// A customer's state as compact bytes, for a database row: little-endian numbers and
/// length-prefixed UTF-8, led by a format byte. JSON would take about three times the room and
/// ten times the time for the line fingerprints that make up most of a long-standing customer.
extension CustomerState {
    /// 2: each purchase day with its spend; 1 (read, never written): the days alone.
    static let formatVersion: UInt8 = 2

    public func encoded() -> Data {
        var out = ByteWriter()
        out.reserve(
            64 + lines.count * 16 + daySpend.count * 16 + quantityCounts.count * 16
                + invoices.count * 16 + products.count * 16)
        out.byte(Self.formatVersion)
        out.int(firstDay ?? Int.min)
        out.int(lastDay ?? Int.min)
        out.double(spend)
        out.double(refunded)
        out.strings(invoices)
        out.int(daySpend.count)
        for (day, spend) in daySpend {
            out.int(day)
            out.double(spend)
        }
        out.strings(products)
        out.int(quantityCounts.count)
        for (quantity, count) in quantityCounts {
            out.double(quantity)
            out.int(count)
        }
        out.int(lines.count)
        for line in lines {
            out.uint64(line.a)
            out.uint64(line.b)
        }
        return out.data
    }

    /// Throws `CustomerStateDecodingError` for bytes this code did not write.
    public init(decoding data: Data) throws {
        var input = ByteReader(data)
        let format = try input.byte()
        guard format == 1 || format == Self.formatVersion else {
            throw CustomerStateDecodingError(reason: "unknown format")
        }
        self.init()
        let first = try input.int(), last = try input.int()
        firstDay = first == Int.min ? nil : first
        lastDay = last == Int.min ? nil : last
        spend = try input.double()
        refunded = try input.double()
        invoices = Set(try input.strings())
        for _ in 0..<(try input.count()) {
            let day = try input.int()
            daySpend[day] = format == 1 ? .nan : try input.double()
        }
        products = Set(try input.strings())
        for _ in 0..<(try input.count()) {
            let quantity = try input.double()
            quantityCounts[quantity] = try input.int()
        }
        let lineCount = try input.count()
        lines.reserveCapacity(lineCount)
        for _ in 0..<lineCount {
            lines.insert(RowFingerprint(a: try input.uint64(), b: try input.uint64()))
        }
        guard input.isAtEnd else { throw CustomerStateDecodingError(reason: "trailing bytes") }
    }
}

public struct CustomerStateDecodingError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "a stored customer state does not decode: \(reason)" }
}

/// Appends to a byte array: a state is encoded on every change of its customer, and a long-
/// standing customer's thousands of fingerprints made Data's per-call checks the slow part.
private struct ByteWriter {
    var bytes: [UInt8] = []

    var data: Data { Data(bytes) }

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }
    mutating func byte(_ value: UInt8) { bytes.append(value) }
    mutating func uint64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func int(_ value: Int) { uint64(UInt64(bitPattern: Int64(value))) }
    mutating func double(_ value: Double) { uint64(value.bitPattern) }
    mutating func strings(_ values: some Collection<String>) {
        int(values.count)
        for value in values {
            int(value.utf8.count)
            bytes.append(contentsOf: value.utf8)
        }
    }
}

/// Reads a copy of the bytes in place (no slice per value).
private struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ data: Data) { bytes = [UInt8](data) }

    var isAtEnd: Bool { offset == bytes.count }

    private func need(_ count: Int) throws {
        guard count >= 0, bytes.count - offset >= count else {
            throw CustomerStateDecodingError(reason: "cut short")
        }
    }

    mutating func byte() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func uint64() throws -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return UInt64(
            littleEndian: bytes.withUnsafeBytes {
                $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            })
    }
    mutating func int() throws -> Int { Int(Int64(bitPattern: try uint64())) }
    mutating func double() throws -> Double { Double(bitPattern: try uint64()) }
    /// A count of items still to read: never more than the bytes left (damaged bytes must not
    /// make the reader reserve gigabytes).
    mutating func count() throws -> Int {
        let value = try int()
        guard value >= 0, value <= bytes.count - offset else {
            throw CustomerStateDecodingError(reason: "count out of range")
        }
        return value
    }
    mutating func strings() throws -> [String] {
        try (0..<count()).map { _ in
            let length = try count()
            defer { offset += length }
            return bytes.withUnsafeBufferPointer {
                String(
                    decoding: UnsafeBufferPointer(rebasing: $0[offset..<(offset + length)]),
                    as: UTF8.self)
            }
        }
    }
}

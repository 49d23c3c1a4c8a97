import Foundation

/// A customer's state as compact bytes, for a database row: little-endian numbers and
/// length-prefixed UTF-8, led by a format byte. JSON would take about three times the room and
/// ten times the time for the line fingerprints that make up most of a long-standing customer.
extension CustomerState {
    /// 2: each purchase day with its spend; 1 (read, never written): the days alone.
    static let formatVersion: UInt8 = 2

    public func encoded() -> Data {
        var out = ByteWriter()
        out.data.reserveCapacity(
            64 + lines.count * 16 + daySpend.count * 16 + quantityCounts.count * 16
                + invoices.count * 16 + products.count * 16)
        out.byte(Self.formatVersion)
        out.int(firstDay ?? Int.min)
        out.int(lastDay ?? Int.min)
        out.double(spend)
        out.double(refunded)
        out.strings(invoices.sorted())
        out.int(daySpend.count)
        for (day, spend) in daySpend.sorted(by: { $0.key < $1.key }) {
            out.int(day)
            out.double(spend)
        }
        out.strings(products.sorted())
        out.int(quantityCounts.count)
        for (quantity, count) in quantityCounts.sorted(by: { $0.key < $1.key }) {
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

private struct ByteWriter {
    var data = Data()

    mutating func byte(_ value: UInt8) { data.append(value) }
    mutating func uint64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
    mutating func int(_ value: Int) { uint64(UInt64(bitPattern: Int64(value))) }
    mutating func double(_ value: Double) { uint64(value.bitPattern) }
    mutating func strings(_ values: [String]) {
        int(values.count)
        for value in values {
            let utf8 = Array(value.utf8)
            int(utf8.count)
            data.append(contentsOf: utf8)
        }
    }
}

private struct ByteReader {
    let data: Data
    var offset: Data.Index

    init(_ data: Data) {
        self.data = data
        offset = data.startIndex
    }

    var isAtEnd: Bool { offset == data.endIndex }

    private mutating func take(_ count: Int) throws -> Data {
        guard count >= 0, data.endIndex - offset >= count else {
            throw CustomerStateDecodingError(reason: "cut short")
        }
        defer { offset += count }
        return data[offset..<(offset + count)]
    }

    mutating func byte() throws -> UInt8 { try take(1).first! }
    /// Read in place: most of a long-standing customer's bytes are line fingerprints, and
    /// copying each eight bytes out first made decoding the slow part of an ingest.
    mutating func uint64() throws -> UInt64 {
        guard data.endIndex - offset >= 8 else {
            throw CustomerStateDecodingError(reason: "cut short")
        }
        let at = offset - data.startIndex
        defer { offset += 8 }
        return UInt64(
            littleEndian: data.withUnsafeBytes {
                $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            })
    }
    mutating func int() throws -> Int { Int(Int64(bitPattern: try uint64())) }
    mutating func double() throws -> Double { Double(bitPattern: try uint64()) }
    /// A count of items still to read: never more than the bytes left (damaged bytes must not
    /// make the reader reserve gigabytes).
    mutating func count() throws -> Int {
        let value = try int()
        guard value >= 0, value <= data.endIndex - offset else {
            throw CustomerStateDecodingError(reason: "count out of range")
        }
        return value
    }
    mutating func strings() throws -> [String] {
        try (0..<count()).map { _ in
            String(decoding: try take(try count()), as: UTF8.self)
        }
    }
}

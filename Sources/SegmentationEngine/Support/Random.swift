import Foundation

/// A small, fast, seedable generator (xoshiro256**), so that every result of the engine is
/// reproducible from its seed on every platform. `SystemRandomNumberGenerator` is not seedable.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        // SplitMix64 expands the seed into four well-mixed words (never all zero).
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// A uniform double in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal variate (Box-Muller).
    public mutating func nextGaussian() -> Double {
        var u = nextUnit()
        while u <= .leastNonzeroMagnitude { u = nextUnit() }
        let v = nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension SeededGenerator {
    /// `count` distinct rows of `rows`, seeded, in increasing order (Floyd's algorithm: O(count) memory).
    public static func distinctRows(_ rows: Int, _ count: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        return generator.distinctRows(rows, min(count, rows))
    }

    mutating func distinctRows(_ rows: Int, _ count: Int) -> [Int] {
        var chosen = Set<Int>(minimumCapacity: count)
        for j in (rows - count)..<rows {
            let t = Int(next() % UInt64(j + 1))
            chosen.insert(chosen.contains(t) ? j : t)
        }
        return chosen.sorted()
    }
}

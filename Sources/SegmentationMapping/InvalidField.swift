/// A request field the mapping refuses: `field` is its path in the API ("spec.k_range",
/// "model.alias"), `message` says what is wrong and what would do. The server answers it as
/// INVALID_ARGUMENT with a field violation; the CLI names its own flag instead.
public struct InvalidField: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { message }
}

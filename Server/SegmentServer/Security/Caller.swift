import GRPCCore

/// The role of the call being handled, as the interceptor authenticated it (nil: the server has
/// no tokens file). Bound for the handler's task only, so the alias history can say who did it.
enum Caller {
    @TaskLocal static var role: Role?

    /// Who a call is, for the alias history: the person's word, the token's role, the address.
    static func actor(author: String, context: ServerContext) -> AliasActor {
        AliasActor(
            author: author.isEmpty ? nil : author, role: role?.rawValue ?? "none (no tokens file)",
            peer: CallNotes.current?.peer ?? context.remotePeer)
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Owned
/// @notice Single-owner access control plus a set of authorised callers (other ArthaTrain
/// contracts or service accounts). Kept tiny on purpose: every contract here needs the same
/// two checks and nothing else from a full access-control library. The owner is not itself
/// authorised, and once the set is fixed it cannot authorise itself (attacks 31).
abstract contract Owned {
    /// @notice Thrown when a caller other than the owner calls an owner-only function.
    error Owned__NotOwner(address caller);
    /// @notice Thrown when a caller that is not authorised calls a restricted function.
    error Owned__NotAuthorised(address caller);
    /// @notice Thrown when the zero address is passed where an account is required.
    error Owned__ZeroAddress();
    /// @notice Thrown when a contract's links are set a second time: they are fixed once set, so
    /// the owner cannot point a contract at one of its own that moves escrow or stake.
    error Owned__AlreadyLinked();
    /// @notice Thrown when the authorised set changes after it was fixed.
    error Owned__AuthorisedFixed();

    /// @notice Emitted when ownership moves to a new account.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice Emitted when an account gains or loses authorisation.
    event AuthorisationSet(address indexed account, bool allowed);
    /// @notice Emitted when the authorised set is fixed for good.
    event AuthorisedFixed();

    address private _owner;
    mapping(address account => bool allowed) private _authorised;
    bool private _authorisedFixed;

    constructor() {
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != _owner) revert Owned__NotOwner(msg.sender);
        _;
    }

    modifier onlyAuthorised() {
        if (!_authorised[msg.sender]) revert Owned__NotAuthorised(msg.sender);
        _;
    }

    /// @notice The current owner.
    function owner() public view returns (address) {
        return _owner;
    }

    /// @notice Whether `account` may call restricted functions.
    function isAuthorised(address account) public view returns (bool) {
        return _authorised[account];
    }

    /// @notice Hands ownership to `newOwner`.
    /// @param newOwner The account that becomes owner.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert Owned__ZeroAddress();
        emit OwnershipTransferred(_owner, newOwner);
        _owner = newOwner;
    }

    /// @notice Grants or removes authorisation of `account` for restricted functions.
    /// @param account The contract or service account.
    /// @param allowed True to authorise, false to revoke.
    function setAuthorised(address account, bool allowed) external onlyOwner {
        if (_authorisedFixed) revert Owned__AuthorisedFixed();
        if (account == address(0)) revert Owned__ZeroAddress();
        _authorised[account] = allowed;
        emit AuthorisationSet(account, allowed);
    }

    /// @notice Fixes the authorised set for good: the contracts that move stake and rewards
    /// (ProofOfCompute, NodeCertRegistry, ReputationRegistry) take only each other once wired,
    /// so whoever holds the owner key (by default the coordinator's) cannot authorise itself.
    function fixAuthorised() external onlyOwner {
        _authorisedFixed = true;
        emit AuthorisedFixed();
    }
}

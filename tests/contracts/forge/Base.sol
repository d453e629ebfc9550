// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Base
/// @notice The few parts of forge-std that this repo's forge tests use, written here because
/// forge-std cannot be cloned offline. Signatures match forge's cheatcodes and the selectors
/// its invariant runner calls (forge-std's StdInvariant), so they must not be renamed.

/// @notice forge's cheatcodes, at the address keccak256("hevm cheat code").
interface Vm {
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function deal(address account, uint256 newBalance) external;
    function warp(uint256 newTimestamp) external;
    function roll(uint256 newHeight) external;
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    function store(address target, bytes32 slot, bytes32 value) external;
    function getBlockTimestamp() external view returns (uint256 timestamp);
    function getBlockNumber() external view returns (uint256 height);
    /// @dev Ed25519 (RFC 8032) keys from a salt, and signatures over `namespace || message`.
    function createEd25519Key(bytes32 salt) external pure returns (bytes32 publicKey, bytes32 privateKey);
    function signEd25519(bytes calldata namespace, bytes calldata message, bytes32 privateKey)
        external
        pure
        returns (bytes memory signature);
    /// @dev secp256k1 signature of `digest` (no prefix) by `privateKey`.
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    /// @dev Sets what BLOCKHASH returns for `blockNumber`.
    function setBlockhash(uint256 blockNumber, bytes32 blockHash) external;
    /// @dev Process environment, e.g. to carry counters from one invariant run to the next.
    function setEnv(string calldata name, string calldata value) external;
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256 value);
    function envOr(string calldata name, bytes32 defaultValue) external view returns (bytes32 value);
    function toString(uint256 value) external pure returns (string memory);
    function toString(bytes32 value) external pure returns (string memory);
    function toString(bytes calldata value) external pure returns (string memory);

    // Assertions: on failure forge reverts with "<err>: <left> != <right>" (or the like).
    function assertTrue(bool condition, string calldata err) external pure;
    function assertFalse(bool condition, string calldata err) external pure;
    function assertEq(uint256 left, uint256 right, string calldata err) external pure;
    function assertEq(address left, address right, string calldata err) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata err) external pure;
    function assertEq(bool left, bool right, string calldata err) external pure;
    function assertLe(uint256 left, uint256 right, string calldata err) external pure;
    function assertGe(uint256 left, uint256 right, string calldata err) external pure;
    function assertLt(uint256 left, uint256 right, string calldata err) external pure;
    function assertGt(uint256 left, uint256 right, string calldata err) external pure;
}

/// @notice forge's console (the subset the tests print with): shown with `forge test -vv`.
library console {
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }

    function log(string memory message) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string)", message));
        ok;
    }
}

/// @notice Holds the cheatcode handle, for handlers as well as tests.
abstract contract CheatBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Maps `x` into [min, max] (inclusive), keeping in-range values as they are so the
    /// fuzzer's dictionary values still land where they were aimed.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: max < min");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        return min + (x % size);
    }
}

/// @notice The invariant runner's configuration, with forge-std StdInvariant's ABI: forge calls
/// these public getters on the test contract before fuzzing.
abstract contract StdInvariant {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    struct FuzzArtifactSelector {
        string artifact;
        bytes4[] selectors;
    }

    struct FuzzInterface {
        address addr;
        string[] artifacts;
    }

    address[] private _excludedContracts;
    address[] private _excludedSenders;
    address[] private _targetedContracts;
    address[] private _targetedSenders;
    string[] private _excludedArtifacts;
    string[] private _targetedArtifacts;
    FuzzArtifactSelector[] private _targetedArtifactSelectors;
    FuzzSelector[] private _excludedSelectors;
    FuzzSelector[] private _targetedSelectors;
    FuzzInterface[] private _targetedInterfaces;

    function excludeContract(address a) internal {
        _excludedContracts.push(a);
    }

    function excludeSender(address a) internal {
        _excludedSenders.push(a);
    }

    function excludeSelector(FuzzSelector memory s) internal {
        _excludedSelectors.push(s);
    }

    function excludeArtifact(string memory a) internal {
        _excludedArtifacts.push(a);
    }

    function targetContract(address a) internal {
        _targetedContracts.push(a);
    }

    function targetSender(address a) internal {
        _targetedSenders.push(a);
    }

    function targetSelector(FuzzSelector memory s) internal {
        _targetedSelectors.push(s);
    }

    function targetArtifact(string memory a) internal {
        _targetedArtifacts.push(a);
    }

    function targetArtifactSelector(FuzzArtifactSelector memory s) internal {
        _targetedArtifactSelectors.push(s);
    }

    function targetInterface(FuzzInterface memory i) internal {
        _targetedInterfaces.push(i);
    }

    function excludeArtifacts() public view returns (string[] memory) {
        return _excludedArtifacts;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludedContracts;
    }

    function excludeSelectors() public view returns (FuzzSelector[] memory) {
        return _excludedSelectors;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }

    function targetArtifacts() public view returns (string[] memory) {
        return _targetedArtifacts;
    }

    function targetArtifactSelectors() public view returns (FuzzArtifactSelector[] memory) {
        return _targetedArtifactSelectors;
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetedSenders;
    }

    function targetInterfaces() public view returns (FuzzInterface[] memory) {
        return _targetedInterfaces;
    }
}

/// @notice Base of a forge test: `setUp()`, then `test*` / `invariant*` functions.
abstract contract Test is CheatBase, StdInvariant {
    /// @dev forge-std's marker of a test contract, kept for tools that look for it.
    bool public IS_TEST = true;

    function assertTrue(bool condition, string memory err) internal pure {
        if (!condition) vm.assertTrue(condition, err);
    }

    function assertFalse(bool condition, string memory err) internal pure {
        if (condition) vm.assertFalse(condition, err);
    }

    function assertEq(uint256 left, uint256 right, string memory err) internal pure {
        if (left != right) vm.assertEq(left, right, err);
    }

    function assertEq(address left, address right, string memory err) internal pure {
        if (left != right) vm.assertEq(left, right, err);
    }

    function assertEq(bytes32 left, bytes32 right, string memory err) internal pure {
        if (left != right) vm.assertEq(left, right, err);
    }

    function assertEq(bool left, bool right, string memory err) internal pure {
        if (left != right) vm.assertEq(left, right, err);
    }

    function assertLe(uint256 left, uint256 right, string memory err) internal pure {
        if (left > right) vm.assertLe(left, right, err);
    }

    function assertGe(uint256 left, uint256 right, string memory err) internal pure {
        if (left < right) vm.assertGe(left, right, err);
    }

    function assertLt(uint256 left, uint256 right, string memory err) internal pure {
        if (left >= right) vm.assertLt(left, right, err);
    }

    function assertGt(uint256 left, uint256 right, string memory err) internal pure {
        if (left <= right) vm.assertGt(left, right, err);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CheatBase, Test, StdInvariant} from "./Base.sol";
import {NodeCertRegistry} from "../../../contracts/NodeCertRegistry.sol";
import {INodeCertRegistry} from "../../../contracts/interfaces/INodeCertRegistry.sol";

/// @notice Drives NodeCertRegistry the way its users do: a few operators register nodes, add
/// stake, heartbeat, leave and withdraw while time moves on and anyone reports missed
/// heartbeats. Every call is shaped so the registry accepts it (a call that would revert is a
/// no-op), so the fuzzer's budget goes into state changes.
contract NodeCertHandler is CheatBase {
    NodeCertRegistry public immutable registry;
    uint256 public constant ACTORS = 4;
    /// @dev A small key space keeps the per-check walk over nodes cheap.
    uint256 public constant KEYS = 24;

    address[ACTORS] internal _actors;
    bytes32[KEYS] internal _keys;
    bytes32[KEYS] internal _secrets;
    bytes32[] public nodes;
    mapping(bytes32 key => bool used) public registered;

    /// @notice Wei that entered and left the registry through this handler.
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    /// @notice How many calls of each kind changed state (useful when a run looks idle).
    mapping(bytes4 selector => uint256 count) public calls;

    constructor(NodeCertRegistry registry_) {
        registry = registry_;
        for (uint256 i = 0; i < ACTORS; ++i) {
            _actors[i] = address(uint160(0xA000 + i));
            vm.label(_actors[i], string.concat("operator", _digit(i)));
        }
        for (uint256 i = 0; i < KEYS; ++i) {
            (_keys[i], _secrets[i]) = vm.createEd25519Key(bytes32(i + 1));
        }
    }

    function nodeCount() external view returns (uint256) {
        return nodes.length;
    }

    function registerNode(uint256 actorSeed, uint256 keySeed, uint256 roleSeed, uint256 extra)
        external
    {
        uint256 k = keySeed % KEYS;
        bytes32 key = _keys[k];
        if (registered[key]) return;
        address actor = _actors[actorSeed % ACTORS];
        INodeCertRegistry.NodeRole role = INodeCertRegistry.NodeRole(roleSeed % 4);
        // The TEE role needs the TEE capability bit (bit 1); give GPU (bit 0) to every other.
        bytes32 caps = role == INodeCertRegistry.NodeRole.TEE ? bytes32(uint256(3)) : bytes32(uint256(1));
        uint256 value = registry.requiredStake(role) + bound(extra, 0, 5 ether);
        vm.deal(actor, actor.balance + value);
        _register(actor, key, _secrets[k], role, caps, value);
        registered[key] = true;
        nodes.push(key);
        ghostDeposited += value;
        calls[this.registerNode.selector]++;
    }

    function addStake(uint256 nodeSeed, uint256 amount) external {
        (bool ok, bytes32 key, NodeCertRegistry.NodeCert memory n) = _pick(nodeSeed);
        if (!ok || !n.active) return;
        amount = bound(amount, 1, 20 ether);
        vm.deal(n.operator, n.operator.balance + amount);
        vm.prank(n.operator);
        registry.addStake{value: amount}(key);
        ghostDeposited += amount;
        calls[this.addStake.selector]++;
    }

    function heartbeat(uint256 nodeSeed, uint256 dt) external {
        _advance(dt, 2 hours);
        (bool ok, bytes32 key, NodeCertRegistry.NodeCert memory n) = _pick(nodeSeed);
        if (!ok || !n.active) return;
        vm.prank(n.operator);
        registry.heartbeat(key);
        calls[this.heartbeat.selector]++;
    }

    function deactivateNode(uint256 nodeSeed) external {
        (bool ok, bytes32 key, NodeCertRegistry.NodeCert memory n) = _pick(nodeSeed);
        if (!ok || !n.active) return;
        vm.prank(n.operator);
        registry.deactivateNode(key);
        calls[this.deactivateNode.selector]++;
    }

    function withdrawStake(uint256 nodeSeed, bool waitOut) external {
        (bool ok, bytes32 key, NodeCertRegistry.NodeCert memory n) = _pick(nodeSeed);
        if (!ok || n.active || n.unlocksAt == 0 || n.stake == 0) return;
        if (block.timestamp < n.unlocksAt) {
            if (!waitOut) return;
            vm.warp(n.unlocksAt);
        }
        uint256 before = n.operator.balance;
        vm.prank(n.operator);
        registry.withdrawStake(key);
        ghostWithdrawn += n.operator.balance - before;
        calls[this.withdrawStake.selector]++;
    }

    function reportMissedHeartbeats(uint256 nodeSeed, uint256 reporterSeed, uint256 dt) external {
        _advance(dt, 12 hours);
        (bool ok, bytes32 key, NodeCertRegistry.NodeCert memory n) = _pick(nodeSeed);
        if (!ok || !n.active) return;
        uint256 missed = (block.timestamp - n.lastHeartbeat) / registry.heartbeatInterval();
        if (missed <= n.missesPenalised) return;
        vm.prank(_actors[reporterSeed % ACTORS]);
        registry.reportMissedHeartbeats(key);
        calls[this.reportMissedHeartbeats.selector]++;
    }

    function warp(uint256 dt) external {
        _advance(dt, 3 days);
        calls[this.warp.selector]++;
    }

    /// @notice Sum of every node's stake, to compare with the registry's running total.
    function sumOfStakes() external view returns (uint256 sum) {
        for (uint256 i = 0; i < nodes.length; ++i) sum += registry.getNode(nodes[i]).stake;
    }

    /// @dev Registers through a low-level call so this handler compiles against both forms of
    /// `registerNode`: the one-step form, and the form that takes the node key's Ed25519
    /// signature over `bindingDigest(operator, key)` (used when the registry has that view).
    /// Once only the signed form exists, this can call `registry.registerNode(...)` directly.
    function _register(
        address actor,
        bytes32 key,
        bytes32 secret,
        INodeCertRegistry.NodeRole role,
        bytes32 caps,
        uint256 value
    ) internal {
        (bool signed, bytes memory digest) = address(registry).staticcall(
            abi.encodeWithSignature("bindingDigest(address,bytes32)", actor, key)
        );
        bytes memory data = signed
            ? abi.encodeWithSignature(
                "registerNode(bytes32,uint8,string,bytes32,bytes32,bytes)",
                key,
                role,
                "eu-west",
                caps,
                bytes32("sla-1"),
                vm.signEd25519("", digest, secret)
            )
            : abi.encodeWithSignature(
                "registerNode(bytes32,uint8,string,bytes32,bytes32)", key, role, "eu-west", caps, bytes32("sla-1")
            );
        vm.prank(actor);
        (bool ok, bytes memory reason) = address(registry).call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(reason, 32), mload(reason))
            }
        }
    }

    function _pick(uint256 seed)
        internal
        view
        returns (bool ok, bytes32 key, NodeCertRegistry.NodeCert memory n)
    {
        if (nodes.length == 0) return (false, bytes32(0), n);
        key = nodes[seed % nodes.length];
        return (true, key, registry.getNode(key));
    }

    function _advance(uint256 dt, uint256 max) internal {
        vm.warp(block.timestamp + bound(dt, 0, max));
    }

    function _digit(uint256 i) internal pure returns (string memory) {
        return string(abi.encodePacked(bytes1(uint8(48 + i))));
    }
}

/// @notice Money conservation in NodeCertRegistry: every wei it holds is either some node's
/// stake or burned (slashPool, which nothing pays out), whatever sequence of operator calls, reports and time passing.
contract NodeCertRegistryInvariantTest is Test {
    NodeCertRegistry internal registry;
    NodeCertHandler internal handler;

    function setUp() public {
        registry = new NodeCertRegistry();
        handler = new NodeCertHandler(registry);
        vm.label(address(registry), "NodeCertRegistry");
        vm.label(address(handler), "NodeCertHandler");

        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = NodeCertHandler.registerNode.selector;
        selectors[1] = NodeCertHandler.addStake.selector;
        selectors[2] = NodeCertHandler.heartbeat.selector;
        selectors[3] = NodeCertHandler.deactivateNode.selector;
        selectors[4] = NodeCertHandler.withdrawStake.selector;
        selectors[5] = NodeCertHandler.reportMissedHeartbeats.selector;
        selectors[6] = NodeCertHandler.warp.selector;
        targetContract(address(handler));
        targetSelector(StdInvariant.FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function invariant_moneyConserved() public view {
        assertEq(
            address(registry).balance,
            registry.totalStaked() + registry.slashPool(),
            "registry balance == totalStaked + slashPool"
        );
        assertEq(registry.totalStaked(), handler.sumOfStakes(), "totalStaked == sum of node stakes");
        assertEq(
            address(registry).balance,
            handler.ghostDeposited() - handler.ghostWithdrawn(),
            "registry balance == deposited - withdrawn"
        );
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {Caps} from "./libraries/Caps.sol";
import {INodeCertRegistry} from "./interfaces/INodeCertRegistry.sol";
import {IReputationRegistry} from "./interfaces/IReputationRegistry.sol";
import {Domain} from "./libraries/Domain.sol";
import {Ed25519} from "./libraries/Ed25519.sol";

/// @title NodeCertRegistry
/// @notice Registers compute nodes with stake, capabilities and heartbeats; verifies hardware
/// attestations; slashes misbehaving nodes; releases stake after unbonding.
/// Stake is held in the chain's native coin (ARTH, 18 decimals). Slashed stake is burned: it stays
/// in this contract for good (`slashPool` counts it) and no function pays it to anyone, the owner
/// included, so whoever can slash (an authorised verifier, which the owner may name) never profits
/// from a slash (attacks 39).
/// @dev A node key is registered only with an Ed25519 signature by that key over the EIP-712
/// NodeBinding of the operator, so nobody can squat another node's key. Missed heartbeats cost
/// stake in closed form (constant gas however long a node was silent; a search over the interval
/// changes for one silent across several) and are settled by the next
/// heartbeat too, so a late heartbeat cannot wipe misses nobody reported. Only verification
/// penalties count as offences (the escalation to 100% is VerificationManager's).
contract NodeCertRegistry is Owned, INodeCertRegistry {
    /// @notice Thrown when a public key is zero.
    error NodeCert__InvalidPubkey();
    /// @notice Thrown when a public key is registered a second time.
    error NodeCert__AlreadyRegistered(bytes32 nodePubkey);
    /// @notice Thrown when a node is unknown.
    error NodeCert__UnknownNode(bytes32 nodePubkey);
    /// @notice Thrown when the stake sent is below what the role requires.
    error NodeCert__StakeTooLow(uint256 sent, uint256 min);
    /// @notice Thrown when the caller is not the operator of the node.
    error NodeCert__NotOperator(address caller, bytes32 nodePubkey);
    /// @notice Thrown when the node is not active.
    error NodeCert__NotActive(bytes32 nodePubkey);
    /// @notice Thrown when the capability word contradicts the role (TEE role without TEE bit).
    error NodeCert__CapsMismatch(NodeRole role, bytes32 caps);
    /// @notice Thrown when the attestation is not signed by an attester.
    error NodeCert__BadAttestation(address signer);
    /// @notice Thrown when a slash asks for more than the node holds.
    error NodeCert__SlashExceedsStake(uint256 amount, uint256 stake);
    /// @notice Thrown when a basis-point value is above 10,000.
    error NodeCert__BpsOutOfRange(uint256 bps);
    /// @notice Thrown when no heartbeat has been missed for the time of the call.
    error NodeCert__NoMissedHeartbeat(bytes32 nodePubkey, uint256 missed);
    /// @notice Thrown when withdrawal is requested before the unbonding delay ends.
    error NodeCert__StillUnbonding(uint256 now_, uint256 unlocksAt);
    /// @notice Thrown when withdrawal is asked for a node that never started unbonding.
    error NodeCert__NotUnbonding(bytes32 nodePubkey);
    /// @notice Thrown when there is nothing to withdraw.
    error NodeCert__NothingToWithdraw();
    /// @notice Thrown when a configuration value is out of its range.
    error NodeCert__InvalidConfig(bytes32 key, uint256 value);
    /// @notice Thrown when a native transfer fails.
    error NodeCert__TransferFailed(address to, uint256 amount);
    /// @notice Thrown when the binding signature is not the node key's over NodeBinding.
    error NodeCert__BadBinding(bytes32 nodePubkey, address operator);

    /// @notice Emitted when a node registers.
    event NodeRegistered(
        bytes32 indexed nodePubkey,
        address indexed operator,
        NodeRole role,
        string region,
        bytes32 caps,
        bytes32 slaId,
        uint256 stake
    );
    /// @notice Emitted on every heartbeat.
    event Heartbeat(bytes32 indexed nodePubkey, uint64 timestamp);
    /// @notice Emitted when stake is added to a node.
    event StakeAdded(bytes32 indexed nodePubkey, uint256 amount, uint256 stake);
    /// @notice Emitted when an attester vouches for a node's hardware.
    event HardwareVerified(bytes32 indexed nodePubkey, bytes32 hwHash, address attester);
    /// @notice Emitted when heartbeats were missed (the first hour is a warning).
    event HeartbeatMissed(bytes32 indexed nodePubkey, uint256 missed, address reporter);
    /// @notice Emitted when stake is slashed.
    event NodeSlashed(bytes32 indexed nodePubkey, uint256 amount, SlashReason reason, uint256 offences);
    /// @notice Emitted when a node stops being active.
    event NodeDeactivated(bytes32 indexed nodePubkey, uint64 unlocksAt);
    /// @notice Emitted when stake leaves the registry for its operator.
    event StakeWithdrawn(bytes32 indexed nodePubkey, address indexed operator, uint256 amount);
    /// @notice Emitted when a configuration value changes.
    event ConfigChanged(bytes32 indexed key, uint256 value);
    /// @notice Emitted when an attester is added or removed.
    event AttesterSet(address indexed attester, bool allowed);

    struct NodeCert {
        bytes32 nodePubkey;
        address operator;
        NodeRole role;
        string region;
        bytes32 caps;
        bytes32 slaId;
        uint256 stake;
        uint64 registeredAt;
        uint64 lastHeartbeat;
        uint64 unlocksAt;
        uint32 missesPenalised;
        uint32 offences;
        /// @dev Attestations are signed over this nonce, which every verification bumps: an old
        /// attestation cannot roll the hardware record back.
        uint32 hwNonce;
        bytes32 hwHash;
        bool active;
    }

    /// @dev A closed stretch of time under one heartbeat interval: from `since` to the next
    /// period's `since` (the last one's: to `_intervalSince`). `missesBefore` is the whole
    /// intervals of all periods before it, each counted in its own interval, so what a node silent
    /// across any number of changes missed in the periods between is a difference of two of them.
    struct IntervalPeriod {
        uint64 since;
        uint32 interval;
        uint64 missesBefore;
    }

    uint256 public constant BPS = 10_000;
    /// @dev Fixed-point one for the closed-form heartbeat penalty.
    uint256 private constant WAD = 1e18;
    /// @dev secp256k1 order / 2: signatures with a larger s are the malleable twin (EIP-2).
    uint256 private constant SECP256K1_HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// @notice EIP-712 type the node key signs to bind itself to an operator.
    bytes32 public constant NODE_BINDING_TYPEHASH =
        keccak256("NodeBinding(address operator,bytes32 nodePubkey,uint256 nonce)");
    /// @notice EIP-712 type an attester signs for a node's hardware.
    bytes32 public constant HARDWARE_TYPEHASH =
        keccak256("HardwareAttestation(bytes32 nodePubkey,bytes32 hwHash,uint256 nonce)");
    /// @dev 3 consecutive missed heartbeats cost 10% of stake (design doc, stake slashing).
    uint256 public constant MISSED_HEARTBEAT_SLASH_BPS = 1_000;
    uint256 public constant MISSES_PER_SLASH = 3;

    uint256 public minStake = 1 ether;
    uint256 public heartbeatInterval = 1 hours;
    /// @dev When the current interval took effect, and the whole intervals the periods before it
    /// hold (see IntervalPeriod): misses in a period count in the interval then in force, so no
    /// change is retroactive. A period counts at most one miss a second, so the sum stays below
    /// block.timestamp and fits the slot `_intervalSince` is in.
    uint64 private _intervalSince;
    uint64 private _closedMisses;
    uint256 public unbondingDelay = 7 days;
    /// @notice Stake burned by slashes so far. It only grows: burned stake stays in this contract
    /// (balance == totalStaked + slashPool) and nothing pays it out. Kept in place rather than
    /// sent to a dead address: a slash makes no external transfer, and the balance stays checkable.
    uint256 public slashPool;
    uint256 public totalStaked;
    address public reputation;

    mapping(NodeRole role => uint256 stake) private _roleStake;
    mapping(bytes32 nodePubkey => NodeCert cert) private _nodes;
    mapping(address attester => bool allowed) private _attesters;
    mapping(address operator => bytes32[] pubkeys) private _operatorNodes;
    /// @dev Every period before the current interval, oldest first: one per change of it.
    IntervalPeriod[] private _periods;

    constructor() {
        _roleStake[NodeRole.Basic] = 1 ether;
        _roleStake[NodeRole.GPUProvider] = 10 ether;
        _roleStake[NodeRole.TEE] = 50 ether;
        _roleStake[NodeRole.Priority] = 100 ether;
    }

    // ----------------------------------------------------------------- registration

    /// @notice Registers a node with stake. The node key proves it chose `msg.sender` as its
    /// operator: `bindingSignature` is its Ed25519 signature over `bindingDigest(msg.sender,
    /// nodePubkey)` (checked here, so another account cannot register, and so block, the key).
    /// @param nodePubkey Ed25519 public key of the node.
    /// @param role Stake tier: Basic 1, GPUProvider 10, TEE 50, Priority 100 ARTH by default.
    /// @param region Free-form region label (e.g. "eu-west").
    /// @param caps Capability word (see Caps library).
    /// @param slaId Identifier of the service-level agreement the node accepts.
    /// @param bindingSignature 64-byte Ed25519 signature (R ++ S) of the node key.
    /// @return The node id (its public key).
    function registerNode(
        bytes32 nodePubkey,
        NodeRole role,
        string calldata region,
        bytes32 caps,
        bytes32 slaId,
        bytes calldata bindingSignature
    ) external payable returns (bytes32) {
        if (nodePubkey == bytes32(0)) revert NodeCert__InvalidPubkey();
        if (_nodes[nodePubkey].operator != address(0)) revert NodeCert__AlreadyRegistered(nodePubkey);
        uint256 required = requiredStake(role);
        if (msg.value < required) revert NodeCert__StakeTooLow(msg.value, required);
        if (role == NodeRole.TEE && !Caps.hasTEE(caps)) revert NodeCert__CapsMismatch(role, caps);
        if (
            bindingSignature.length != 64
                || !Ed25519.verify(
                    nodePubkey,
                    bytes32(bindingSignature[0:32]),
                    bytes32(bindingSignature[32:64]),
                    abi.encodePacked(bindingDigest(msg.sender, nodePubkey))
                )
        ) revert NodeCert__BadBinding(nodePubkey, msg.sender);

        NodeCert storage n = _nodes[nodePubkey];
        n.nodePubkey = nodePubkey;
        n.operator = msg.sender;
        n.role = role;
        n.region = region;
        n.caps = caps;
        n.slaId = slaId;
        n.stake = msg.value;
        n.registeredAt = uint64(block.timestamp);
        n.lastHeartbeat = uint64(block.timestamp);
        n.active = true;
        totalStaked += msg.value;
        _operatorNodes[msg.sender].push(nodePubkey);
        emit NodeRegistered(nodePubkey, msg.sender, role, region, caps, slaId, msg.value);
        return nodePubkey;
    }

    /// @notice Adds stake to an active node (e.g. to climb a tier or refill after a slash).
    /// @param nodePubkey The node.
    function addStake(bytes32 nodePubkey) external payable {
        NodeCert storage n = _operatorNode(nodePubkey);
        if (!n.active) revert NodeCert__NotActive(nodePubkey);
        n.stake += msg.value;
        totalStaked += msg.value;
        emit StakeAdded(nodePubkey, msg.value, n.stake);
    }

    /// @notice Proves liveness. Misses since the last heartbeat that nobody reported are settled
    /// first (as `reportMissedHeartbeats` would), then the count starts again.
    /// @param nodePubkey The node.
    function heartbeat(bytes32 nodePubkey) external {
        NodeCert storage n = _operatorNode(nodePubkey);
        if (!n.active) revert NodeCert__NotActive(nodePubkey);
        _applyMisses(n);
        n.lastHeartbeat = uint64(block.timestamp);
        n.missesPenalised = 0;
        emit Heartbeat(nodePubkey, uint64(block.timestamp));
    }

    /// @notice Records hardware verified by an attester. Anyone may submit; the attestation is an
    /// ECDSA signature by a registered attester over the EIP-712 digest `hardwareDigest(nodePubkey,
    /// hwHash)`, which covers the node's current attestation nonce: each attestation counts once,
    /// and an older one can never roll the record back.
    /// @param nodePubkey The node.
    /// @param hwHash Hash of the hardware report (CPU, RAM, GPU, disk, bandwidth test).
    /// @param attestation 65-byte signature (r, s, v).
    function verifyHardware(bytes32 nodePubkey, bytes32 hwHash, bytes calldata attestation) external {
        NodeCert storage n = _node(nodePubkey);
        address signer = _recover(hardwareDigest(nodePubkey, hwHash), attestation);
        if (!_attesters[signer]) revert NodeCert__BadAttestation(signer);
        n.hwNonce += 1;
        n.hwHash = hwHash;
        emit HardwareVerified(nodePubkey, hwHash, signer);
    }

    /// @notice Applies the missed-heartbeat policy; anyone may call it, the block time is the
    /// evidence. One missed interval is a warning; every 3 consecutive misses take 10% of what is
    /// left, i.e. k windows leave stake x 0.9^k, computed in O(log k) so the gas stays flat however
    /// long the node was silent.
    /// @param nodePubkey The node.
    /// @return slashed Amount taken from stake by this call.
    function reportMissedHeartbeats(bytes32 nodePubkey) external returns (uint256 slashed) {
        NodeCert storage n = _node(nodePubkey);
        if (!n.active) revert NodeCert__NotActive(nodePubkey);
        uint256 missed = _missed(n);
        if (missed <= n.missesPenalised) revert NodeCert__NoMissedHeartbeat(nodePubkey, missed);
        return _applyMisses(n);
    }

    // --------------------------------------------------------------------- slashing

    /// @notice Slashes (burns) an exact amount of stake. Authorised contracts only; the owner is
    /// not one by being the owner.
    /// @param nodePubkey The node.
    /// @param amount Wei of stake to burn.
    /// @param reason Why.
    /// @param deactivate Whether the node also stops being active.
    function slashNode(bytes32 nodePubkey, uint256 amount, SlashReason reason, bool deactivate)
        external
        onlyAuthorised
    {
        NodeCert storage n = _node(nodePubkey);
        if (amount > n.stake) revert NodeCert__SlashExceedsStake(amount, n.stake);
        _slash(n, amount, reason, _isOffence(reason));
        if (deactivate && n.active) _deactivate(n);
    }

    /// @inheritdoc INodeCertRegistry
    function slashBps(bytes32 nodePubkey, uint256 bps, SlashReason reason, bool deactivate)
        external
        onlyAuthorised
        returns (uint256 amount)
    {
        if (bps > BPS) revert NodeCert__BpsOutOfRange(bps);
        NodeCert storage n = _node(nodePubkey);
        amount = _slash(n, n.stake * bps / BPS, reason, _isOffence(reason));
        if (deactivate && n.active) _deactivate(n);
    }

    // -------------------------------------------------------------- exit and unbonding

    /// @notice Stops the node taking work and starts the unbonding delay. Operator only.
    /// @param nodePubkey The node.
    function deactivateNode(bytes32 nodePubkey) external {
        NodeCert storage n = _operatorNode(nodePubkey);
        if (!n.active) revert NodeCert__NotActive(nodePubkey);
        // Misses nobody reported are settled first: leaving must not wipe them.
        _applyMisses(n);
        _deactivate(n);
    }

    /// @notice Withdraws the remaining stake after unbonding. Operator only. The node stays
    /// slashable during the delay so evidence found late still bites.
    /// @param nodePubkey The node.
    function withdrawStake(bytes32 nodePubkey) external {
        NodeCert storage n = _operatorNode(nodePubkey);
        if (n.active || n.unlocksAt == 0) revert NodeCert__NotUnbonding(nodePubkey);
        if (block.timestamp < n.unlocksAt) revert NodeCert__StillUnbonding(block.timestamp, n.unlocksAt);
        uint256 amount = n.stake;
        if (amount == 0) revert NodeCert__NothingToWithdraw();
        n.stake = 0;
        totalStaked -= amount;
        emit StakeWithdrawn(nodePubkey, n.operator, amount);
        _send(payable(n.operator), amount);
    }

    // -------------------------------------------------------------------- configuration

    /// @notice Sets the floor stake for every role. Owner only.
    function setMinStake(uint256 value) external onlyOwner {
        if (value == 0) revert NodeCert__InvalidConfig("minStake", value);
        minStake = value;
        emit ConfigChanged("minStake", value);
    }

    /// @notice Sets the stake tier of a role. Owner only.
    function setRoleStake(NodeRole role, uint256 value) external onlyOwner {
        _roleStake[role] = value;
        emit ConfigChanged(bytes32(uint256(keccak256("roleStake")) + uint256(role)), value);
    }

    /// @notice Sets the heartbeat interval in seconds. Owner only. It counts from now: time
    /// before it is counted in the interval then in force, so shortening it cannot turn the
    /// past hour of an honest node into missed heartbeats. At most one change per current
    /// interval, so every period lasts at least its interval (a node silent through one missed
    /// it). Each change keeps the period it ends (one storage slot), so the time of a node silent
    /// across several changes counts period by period, each in its own interval.
    function setHeartbeatInterval(uint256 value) external onlyOwner {
        // Zero would divide by zero in the missed-heartbeat policy; a day is the longest that
        // still lets the policy catch a node that went away.
        if (value == 0 || value > 1 days) revert NodeCert__InvalidConfig("heartbeatInterval", value);
        uint256 since = _intervalSince;
        uint256 current = heartbeatInterval;
        if (block.timestamp < since + current) {
            revert NodeCert__InvalidConfig("heartbeatIntervalChange", since + current);
        }
        // Remembering only the interval before the last change counted all of a node's time before
        // that change in it: set to 60 s and back 61 s later, it counted a punctual node's hour
        // at 60 s (10 -> 1.2 ARTH; found in the contracts audit). Casts: `current` is at most a
        // day, and the sum of misses stays below block.timestamp (see _closedMisses).
        uint64 closed = _closedMisses;
        _periods.push(IntervalPeriod({since: uint64(since), interval: uint32(current), missesBefore: closed}));
        _closedMisses = closed + uint64((block.timestamp - since) / current);
        _intervalSince = uint64(block.timestamp);
        heartbeatInterval = value;
        emit ConfigChanged("heartbeatInterval", value);
    }

    /// @notice Sets the unbonding delay in seconds. Owner only.
    function setUnbondingDelay(uint256 value) external onlyOwner {
        if (value > 365 days) revert NodeCert__InvalidConfig("unbondingDelay", value);
        unbondingDelay = value;
        emit ConfigChanged("unbondingDelay", value);
    }

    /// @notice Sets the reputation registry that hears about slashes, once. Owner only: pointed
    /// later at an account with no code, every slash would revert, and with it every timeout
    /// that closes a case a settlement waits for (attacks 31).
    function setReputation(address value) external onlyOwner {
        if (reputation != address(0)) revert Owned__AlreadyLinked();
        if (value == address(0)) revert Owned__ZeroAddress();
        reputation = value;
        emit ConfigChanged("reputation", uint256(uint160(value)));
    }

    /// @notice Adds or removes a hardware attester. Owner only.
    function setAttester(address attester, bool allowed) external onlyOwner {
        // ecrecover returns address(0) for malformed signatures: it must never be an attester.
        if (attester == address(0)) revert Owned__ZeroAddress();
        _attesters[attester] = allowed;
        emit AttesterSet(attester, allowed);
    }

    // ---------------------------------------------------------------------------- views

    /// @notice The stake `role` needs: its tier, but never less than `minStake`.
    function requiredStake(NodeRole role) public view returns (uint256) {
        uint256 tier = _roleStake[role];
        return tier > minStake ? tier : minStake;
    }

    /// @notice The full record of a node.
    function getNode(bytes32 nodePubkey) external view returns (NodeCert memory) {
        return _nodes[nodePubkey];
    }

    /// @notice A node's verification offences, remaining stake and whether it is active.
    function standingOf(bytes32 nodePubkey) external view returns (uint32 offences, uint256 stake, bool active) {
        NodeCert storage n = _nodes[nodePubkey];
        return (n.offences, n.stake, n.active);
    }

    /// @inheritdoc INodeCertRegistry
    function nodesOf(address operator) external view returns (bytes32[] memory) {
        return _operatorNodes[operator];
    }

    /// @inheritdoc INodeCertRegistry
    function operatorOf(bytes32 nodePubkey) external view returns (address) {
        return _nodes[nodePubkey].operator;
    }

    /// @inheritdoc INodeCertRegistry
    function isComputeEligible(bytes32 nodePubkey) external view returns (bool) {
        NodeCert storage n = _nodes[nodePubkey];
        return n.active && n.role != NodeRole.Basic;
    }

    /// @inheritdoc INodeCertRegistry
    function isLive(bytes32 nodePubkey) external view returns (bool) {
        NodeCert storage n = _nodes[nodePubkey];
        if (!n.active) return false;
        uint256 since = _intervalSince;
        if (n.lastHeartbeat >= since) return block.timestamp <= n.lastHeartbeat + heartbeatInterval;
        // Beaten in time in the period just closed, and the current one not yet over since (a node
        // silent since an earlier period missed that period's beat: each lasts its interval). A
        // beat before the current period means a change happened, so a period is kept.
        uint256 previous = _periods[_periods.length - 1].interval;
        return since - n.lastHeartbeat <= previous && block.timestamp <= since + heartbeatInterval;
    }

    /// @inheritdoc INodeCertRegistry
    function stakeOf(bytes32 nodePubkey) external view returns (uint256) {
        return _nodes[nodePubkey].stake;
    }

    /// @notice Whether `attester` may sign hardware attestations.
    function isAttester(address attester) external view returns (bool) {
        return _attesters[attester];
    }

    /// @notice The EIP-712 digest an attester signs for the node's next attestation (the
    /// attester signs this digest itself, without the EIP-191 prefix).
    function hardwareDigest(bytes32 nodePubkey, bytes32 hwHash) public view returns (bytes32) {
        return Domain.digest(
            address(this), keccak256(abi.encode(HARDWARE_TYPEHASH, nodePubkey, hwHash, _nodes[nodePubkey].hwNonce))
        );
    }

    /// @notice The EIP-712 digest a node key signs to let `operator` register it; the nonce is the
    /// number of nodes `operator` registered so far (lib/keys.ts bindingDigest).
    function bindingDigest(address operator, bytes32 nodePubkey) public view returns (bytes32) {
        return Domain.digest(
            address(this),
            keccak256(abi.encode(NODE_BINDING_TYPEHASH, operator, nodePubkey, _operatorNodes[operator].length))
        );
    }

    /// @notice The EIP-712 domain separator of this contract (ArthaTrain v1, this chain).
    function domainSeparator() external view returns (bytes32) {
        return Domain.separator(address(this));
    }

    // ------------------------------------------------------------------------ internals

    function _node(bytes32 nodePubkey) private view returns (NodeCert storage n) {
        n = _nodes[nodePubkey];
        if (n.operator == address(0)) revert NodeCert__UnknownNode(nodePubkey);
    }

    function _operatorNode(bytes32 nodePubkey) private view returns (NodeCert storage n) {
        n = _node(nodePubkey);
        if (n.operator != msg.sender) revert NodeCert__NotOperator(msg.sender, nodePubkey);
    }

    /// @dev Heartbeat intervals missed since the last heartbeat, each period of time in the
    /// interval in force in it: the rest of the period of the beat, the whole periods after it
    /// (a difference of prefix sums), and the current period so far.
    function _missed(NodeCert storage n) private view returns (uint256) {
        uint256 last = n.lastHeartbeat;
        uint256 since = _intervalSince;
        if (last >= since) return (block.timestamp - last) / heartbeatInterval;
        uint256 count = _periods.length;
        uint256 k = _periodOf(last, count);
        IntervalPeriod memory p = _periods[k];
        uint256 end = since;
        uint256 between;
        if (k + 1 < count) {
            IntervalPeriod memory next = _periods[k + 1];
            end = next.since;
            between = _closedMisses - next.missesBefore;
        }
        return (end - last) / p.interval + between + (block.timestamp - since) / heartbeatInterval;
    }

    /// @dev The index of the kept period holding time `t` (before `_intervalSince`, so `count` >
    /// 0): the last one whose `since` is at most `t`. A node silent since before the current
    /// period most often beat in the one just closed, tried first; an older beat costs a binary
    /// search, O(log changes).
    function _periodOf(uint256 t, uint256 count) private view returns (uint256 lo) {
        uint256 hi = count - 1;
        if (_periods[hi].since <= t) return hi;
        // _periods[lo].since <= t < _periods[hi].since throughout: the first period starts at 0.
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            if (_periods[mid].since <= t) lo = mid;
            else hi = mid;
        }
    }

    /// @dev Settles missed-heartbeat windows not yet penalised: stake x (1 - 0.9^k) in one slash.
    function _applyMisses(NodeCert storage n) private returns (uint256 slashed) {
        uint256 missed = _missed(n);
        if (missed <= n.missesPenalised) return 0;
        uint256 newWindows = missed / MISSES_PER_SLASH - n.missesPenalised / MISSES_PER_SLASH;
        // A uint32 holds 136 years of one-second intervals; past it the stake is long gone anyway.
        n.missesPenalised = missed > type(uint32).max ? type(uint32).max : uint32(missed);
        emit HeartbeatMissed(n.nodePubkey, missed, msg.sender);
        if (newWindows == 0) return 0;
        uint256 kept = n.stake * _keptWad(newWindows) / WAD;
        slashed = _slash(n, n.stake - kept, SlashReason.MissedHeartbeats, false);
    }

    /// @dev (1 - MISSED_HEARTBEAT_SLASH_BPS / BPS) ^ windows in WAD, by squaring: O(log windows).
    function _keptWad(uint256 windows) private pure returns (uint256 kept) {
        uint256 base = (BPS - MISSED_HEARTBEAT_SLASH_BPS) * WAD / BPS;
        kept = WAD;
        while (windows > 0 && kept > 0) {
            if (windows & 1 == 1) kept = kept * base / WAD;
            base = base * base / WAD;
            windows >>= 1;
        }
    }

    /// @dev Verification penalties are offences; missing heartbeats costs stake but is not one.
    function _isOffence(SlashReason reason) private pure returns (bool) {
        return reason != SlashReason.MissedHeartbeats;
    }

    /// @dev Burns `amount` of the node's stake: it leaves `totalStaked` for `slashPool`, which no
    /// function pays out.
    function _slash(NodeCert storage n, uint256 amount, SlashReason reason, bool offence) private returns (uint256) {
        n.stake -= amount;
        totalStaked -= amount;
        slashPool += amount;
        if (offence) n.offences += 1;
        emit NodeSlashed(n.nodePubkey, amount, reason, n.offences);
        if (reputation != address(0)) IReputationRegistry(reputation).recordSlash(n.nodePubkey);
        return amount;
    }

    function _deactivate(NodeCert storage n) private {
        n.active = false;
        n.unlocksAt = uint64(block.timestamp + unbondingDelay);
        emit NodeDeactivated(n.nodePubkey, n.unlocksAt);
    }

    function _send(address payable to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert NodeCert__TransferFailed(to, amount);
    }

    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        // Only the lower-s form (EIP-2), so a signature has exactly one valid encoding.
        if (uint256(s) > SECP256K1_HALF_ORDER) return address(0);
        return ecrecover(digest, v, r, s);
    }
}

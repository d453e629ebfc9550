// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {MerkleProof} from "./libraries/MerkleProof.sol";
import {INodeCertRegistry} from "./interfaces/INodeCertRegistry.sol";
import {IPoCVerification, INodeCertView, IVerificationManager} from "./interfaces/IVerification.sol";

/// @title IJobRounds
/// @notice The part of AIJobManager.getJob the dispute game reads (same ABI layout).
interface IJobRounds {
    /// @notice AIJobManager.Job with the status as its uint8 ABI encoding.
    struct Job {
        address owner;
        uint8 status;
        uint32 rounds;
        uint32 currentRound;
        uint32 nodesWanted;
        uint16 redundancy;
        uint64 createdAt;
        uint32 targetImprovementBps;
        uint32 achievedImprovementBps;
        uint256 budget;
        uint256 escrow;
        uint256 baseRatePerSecond;
        bytes32 paramsHash;
        bytes32 latestWeightsDigest;
        string modelCid;
        string datasetCid;
        string latestCheckpointCid;
    }

    /// @notice The job record.
    function getJob(bytes32 jobId) external view returns (Job memory);
}

/// @title DisputeGame
/// @notice When two nodes of one task group committed different results for a round, either may
/// open a dispute before the round is anchored (closed). Both commit the Merkle root of their
/// per-step weights digests s_0..s_N (leaf i = keccak256(0x00 ++ s_i), lib/merkle.ts over 32-byte
/// chunks), opening s_0 (the round's start) and s_N (their committed weightsDigest). Then they
/// bisect: each reveals s_mid with a proof against its own root; equal digests move the agreed
/// end, different ones the disputed end, until one step separates them: the first differing step.
/// @dev Settlement rule (no privileged validator). The contract cannot run the kernel, so it
/// decides, in order: (1) a party that does not move within the window loses (10%, failed
/// verification); (2) a party whose openings do not match its own root or its on-chain commit
/// cannot move at all (the call reverts), so it ends up losing by (1); (3) at the single step, the
/// party whose committed result equals the strict redundancy majority of the task group
/// (VerificationManager.groupMajority, at least two agreeing) wins and the other loses 50% (fake
/// gradients); if neither matches the majority both lose. Trust: an honest majority in the task
/// group, as redundancy itself assumes. Without a majority (redundancy 2, or a split group) the
/// dispute ends Unresolved: nobody is slashed and the emitted step (s_lo, both s_hi) is what an
/// off-chain validator recomputes with the deterministic kernel in one step. Because the roots are
/// committed before bisection, no party can adapt its answers to the questions asked.
contract DisputeGame is Owned {
    /// @notice Thrown when the linked contracts are missing.
    error Dispute__NotLinked();
    /// @notice Thrown when the round was already closed on chain (or the job is not running).
    error Dispute__RoundAnchored(bytes32 jobId, uint32 round, uint32 currentRound);
    /// @notice Thrown when the two results do not conflict (missing, equal, or other task groups).
    error Dispute__NoConflict(bytes32 challenger, bytes32 defender);
    /// @notice Thrown when the caller is not the operator of the party it acts for.
    error Dispute__NotParty(address caller, bytes32 nodePubkey);
    /// @notice Thrown when the digest triple does not hash to the committed result.
    error Dispute__DigestMismatch(bytes32 expected, bytes32 actual);
    /// @notice Thrown when an opening does not verify against the party's steps root.
    error Dispute__BadOpening(uint256 index);
    /// @notice Thrown when a dispute between these parties for this round already exists.
    error Dispute__AlreadyOpen(uint256 disputeId);
    /// @notice Thrown when a dispute is unknown or in another phase.
    error Dispute__WrongPhase(uint256 disputeId, uint8 phase);
    /// @notice Thrown when a move arrives after the window.
    error Dispute__WindowClosed(uint256 disputeId, uint64 deadline);
    /// @notice Thrown when a timeout is claimed before the window ended.
    error Dispute__WindowOpen(uint256 disputeId, uint64 deadline);
    /// @notice Thrown when a party reveals twice for one bisection step.
    error Dispute__AlreadyRevealed(uint256 disputeId, bool challengerSide);
    /// @notice Thrown when a dispute asks for zero steps.
    error Dispute__ZeroSteps();

    /// @notice Emitted when a dispute opens.
    event DisputeOpened(
        uint256 indexed disputeId, bytes32 indexed jobId, uint32 round, bytes32 challenger, bytes32 defender, uint32 steps
    );
    /// @notice Emitted when the defender commits its steps root.
    event DisputeDefended(uint256 indexed disputeId, bytes32 stepsRoot);
    /// @notice Emitted on each bisection move with the new interval.
    event Bisected(uint256 indexed disputeId, uint32 mid, bool agreed, uint32 lo, uint32 hi);
    /// @notice Emitted when the dispute is decided; `loser` is zero when both lost.
    event DisputeSettled(uint256 indexed disputeId, bytes32 winner, bytes32 loser, uint32 step, string rule);
    /// @notice Emitted when the rule cannot decide: the single step off-chain validators recompute.
    event DisputeUnresolved(
        uint256 indexed disputeId, uint32 lo, uint32 hi, bytes32 agreedDigest, bytes32 challengerDigest, bytes32 defenderDigest
    );
    /// @notice Emitted when the move window changes.
    event MoveWindowSet(uint64 window);
    /// @notice Emitted when the linked contracts are set.
    event LinksSet(address proofs, address registry, address jobs, address verification);

    /// @notice Phases of a dispute.
    enum Phase {
        None,
        AwaitDefence,
        Bisecting,
        Settled,
        Unresolved
    }

    /// @notice One dispute.
    struct Dispute {
        bytes32 jobId;
        bytes32 challenger;
        bytes32 defender;
        bytes32 challengerRoot;
        bytes32 defenderRoot;
        bytes32 start;
        bytes32 challengerMid;
        bytes32 defenderMid;
        uint32 round;
        uint32 steps;
        uint32 lo;
        uint32 hi;
        uint64 deadline;
        bool challengerIn;
        bool defenderIn;
        Phase phase;
    }

    /// @notice Openings of a party's steps root at s_0 and s_N.
    struct Ends {
        bytes32 lossDigest;
        bytes32 gradientDigest;
        bytes32 weightsDigest;
        bytes32 stepsRoot;
        bytes32 startDigest;
        bytes32[] startProof;
        bytes32[] endProof;
    }

    uint256 public constant FAILED_VERIFICATION_BPS = 1_000;
    uint256 public constant FAKE_GRADIENTS_BPS = 5_000;
    uint8 private constant JOB_RUNNING = 2;

    IPoCVerification public proofs;
    INodeCertView public registry;
    IJobRounds public jobs;
    IVerificationManager public verification;
    /// @notice Seconds each party has for each move.
    uint64 public moveWindow = 30 minutes;
    uint256 public disputeCount;

    mapping(uint256 disputeId => Dispute dispute) private _disputes;
    mapping(bytes32 pairKey => uint256 disputeId) private _byPair;

    /// @notice Links the contracts. Owner only.
    function setLinks(address proofs_, address registry_, address jobs_, address verification_) external onlyOwner {
        if (proofs_ == address(0) || registry_ == address(0) || jobs_ == address(0) || verification_ == address(0)) {
            revert Owned__ZeroAddress();
        }
        proofs = IPoCVerification(proofs_);
        registry = INodeCertView(registry_);
        jobs = IJobRounds(jobs_);
        verification = IVerificationManager(verification_);
        emit LinksSet(proofs_, registry_, jobs_, verification_);
    }

    /// @notice Sets the move window in seconds (1 minute to 1 day). Owner only.
    function setMoveWindow(uint64 window) external onlyOwner {
        if (window < 1 minutes || window > 1 days) revert Dispute__WindowOpen(0, window);
        moveWindow = window;
        emit MoveWindowSet(window);
    }

    /// @notice Opens a dispute against another node of the same task group whose committed
    /// result differs, before the round is closed. The challenger's operator only.
    /// @param jobId The job.
    /// @param round The open round.
    /// @param challenger The challenger's node.
    /// @param defender The node whose result is disputed.
    /// @param steps Local steps of the round (N); the tree has N + 1 leaves.
    /// @param ends The challenger's digest triple, steps root and openings of s_0 and s_N.
    /// @return disputeId The dispute.
    function open(bytes32 jobId, uint32 round, bytes32 challenger, bytes32 defender, uint32 steps, Ends calldata ends)
        external
        returns (uint256 disputeId)
    {
        if (address(verification) == address(0)) revert Dispute__NotLinked();
        if (steps == 0) revert Dispute__ZeroSteps();
        _onlyParty(challenger);
        IJobRounds.Job memory j = jobs.getJob(jobId);
        if (j.status != JOB_RUNNING || j.currentRound != round) {
            revert Dispute__RoundAnchored(jobId, round, j.currentRound);
        }
        bytes32 rc = proofs.resultOf(jobId, round, challenger);
        bytes32 rd = proofs.resultOf(jobId, round, defender);
        uint32 group = verification.groupOf(jobId, challenger);
        if (rc == bytes32(0) || rd == bytes32(0) || rc == rd || group == 0 || group != verification.groupOf(jobId, defender)) {
            revert Dispute__NoConflict(challenger, defender);
        }
        bytes32 pair = keccak256(abi.encode(jobId, round, challenger, defender));
        if (_byPair[pair] != 0) revert Dispute__AlreadyOpen(_byPair[pair]);
        // The round's start is the last anchored checkpoint; round 0 has none on chain, so the
        // challenger states it and a defender that disagrees sends the dispute to the majority.
        bytes32 start = j.latestWeightsDigest != bytes32(0) ? j.latestWeightsDigest : ends.startDigest;
        _checkEnds(rc, steps, start, ends);
        disputeId = ++disputeCount;
        _byPair[pair] = disputeId;
        Dispute storage d = _disputes[disputeId];
        d.jobId = jobId;
        d.challenger = challenger;
        d.defender = defender;
        d.challengerRoot = ends.stepsRoot;
        d.start = start;
        d.round = round;
        d.steps = steps;
        d.hi = steps;
        d.deadline = uint64(block.timestamp) + moveWindow;
        d.phase = Phase.AwaitDefence;
        emit DisputeOpened(disputeId, jobId, round, challenger, defender, steps);
    }

    /// @notice The defender's answer: its digest triple, steps root and openings of s_0 and s_N.
    /// The defender's operator only, within the window.
    /// @param disputeId The dispute.
    /// @param ends The defender's openings; `startDigest` is the s_0 it claims.
    function defend(uint256 disputeId, Ends calldata ends) external {
        Dispute storage d = _inPhase(disputeId, Phase.AwaitDefence);
        _onlyParty(d.defender);
        _beforeDeadline(disputeId, d);
        bytes32 rd = proofs.resultOf(d.jobId, d.round, d.defender);
        _checkEnds(rd, d.steps, ends.startDigest, ends);
        d.defenderRoot = ends.stepsRoot;
        emit DisputeDefended(disputeId, ends.stepsRoot);
        if (ends.startDigest != d.start) {
            // Only possible in round 0: no anchored start; the majority decides.
            return _settleByMajority(disputeId, d, 0, 0);
        }
        d.phase = Phase.Bisecting;
        d.deadline = uint64(block.timestamp) + moveWindow;
        if (d.hi - d.lo <= 1) _settleByMajority(disputeId, d, d.lo, d.hi);
    }

    /// @notice One bisection move: the party's digest at the midpoint with its opening. When both
    /// sides have moved, the interval halves. The side's operator only, within the window.
    /// @param disputeId The dispute.
    /// @param challengerSide Whether the caller acts for the challenger (else the defender).
    /// @param digest The weights digest after step `mid` (s_mid).
    /// @param proof Opening of leaf `mid` against the side's steps root.
    function reveal(uint256 disputeId, bool challengerSide, bytes32 digest, bytes32[] calldata proof) external {
        Dispute storage d = _inPhase(disputeId, Phase.Bisecting);
        _onlyParty(challengerSide ? d.challenger : d.defender);
        _beforeDeadline(disputeId, d);
        uint32 mid = midpoint(disputeId);
        bytes32 root = challengerSide ? d.challengerRoot : d.defenderRoot;
        if (!MerkleProof.verify(root, MerkleProof.leafOfWord(digest), mid, proof)) revert Dispute__BadOpening(mid);
        if (challengerSide) {
            if (d.challengerIn) revert Dispute__AlreadyRevealed(disputeId, true);
            (d.challengerIn, d.challengerMid) = (true, digest);
        } else {
            if (d.defenderIn) revert Dispute__AlreadyRevealed(disputeId, false);
            (d.defenderIn, d.defenderMid) = (true, digest);
        }
        if (!(d.challengerIn && d.defenderIn)) return;
        bool agreed = d.challengerMid == d.defenderMid;
        if (agreed) d.lo = mid;
        else d.hi = mid;
        (d.challengerIn, d.defenderIn) = (false, false);
        d.deadline = uint64(block.timestamp) + moveWindow;
        emit Bisected(disputeId, mid, agreed, d.lo, d.hi);
        if (d.hi - d.lo <= 1) _settleByMajority(disputeId, d, d.lo, d.hi);
    }

    /// @notice After a missed window, the side that did not move loses 10% (both, if neither
    /// moved during bisection). Anyone may call it.
    /// @param disputeId The dispute.
    function timeout(uint256 disputeId) external {
        Dispute storage d = _disputes[disputeId];
        if (d.phase != Phase.AwaitDefence && d.phase != Phase.Bisecting) revert Dispute__WrongPhase(disputeId, uint8(d.phase));
        if (block.timestamp <= d.deadline) revert Dispute__WindowOpen(disputeId, d.deadline);
        bool challengerLate = d.phase == Phase.Bisecting && !d.challengerIn;
        bool defenderLate = d.phase == Phase.AwaitDefence || !d.defenderIn;
        d.phase = Phase.Settled;
        bytes32 winner = challengerLate ? (defenderLate ? bytes32(0) : d.defender) : d.challenger;
        if (challengerLate) _penalise(d, d.challenger, FAILED_VERIFICATION_BPS, INodeCertRegistry.SlashReason.FailedVerification);
        if (defenderLate) _penalise(d, d.defender, FAILED_VERIFICATION_BPS, INodeCertRegistry.SlashReason.FailedVerification);
        emit DisputeSettled(disputeId, winner, defenderLate ? d.defender : d.challenger, d.lo, "timeout");
    }

    // ---------------------------------------------------------------------------- views

    /// @notice A dispute.
    function disputeOf(uint256 disputeId) external view returns (Dispute memory) {
        return _disputes[disputeId];
    }

    /// @notice The leaf both sides must open next.
    function midpoint(uint256 disputeId) public view returns (uint32) {
        Dispute storage d = _disputes[disputeId];
        return d.lo + (d.hi - d.lo) / 2;
    }

    // ------------------------------------------------------------------------ internals

    function _checkEnds(bytes32 committed, uint32 steps, bytes32 start, Ends calldata e) private pure {
        bytes32 given = keccak256(abi.encode(e.lossDigest, e.gradientDigest, e.weightsDigest));
        if (given != committed) revert Dispute__DigestMismatch(committed, given);
        if (!MerkleProof.verify(e.stepsRoot, MerkleProof.leafOfWord(start), 0, e.startProof)) revert Dispute__BadOpening(0);
        if (!MerkleProof.verify(e.stepsRoot, MerkleProof.leafOfWord(e.weightsDigest), steps, e.endProof)) {
            revert Dispute__BadOpening(steps);
        }
    }

    function _settleByMajority(uint256 disputeId, Dispute storage d, uint32 lo, uint32 hi) private {
        uint32 group = verification.groupOf(d.jobId, d.challenger);
        (bytes32 majority,,, bool consensus) = verification.groupMajority(d.jobId, d.round, group);
        if (!consensus) {
            d.phase = Phase.Unresolved;
            emit DisputeUnresolved(disputeId, lo, hi, d.start, d.challengerMid, d.defenderMid);
            return;
        }
        d.phase = Phase.Settled;
        bool challengerRight = proofs.resultOf(d.jobId, d.round, d.challenger) == majority;
        bool defenderRight = proofs.resultOf(d.jobId, d.round, d.defender) == majority;
        if (!challengerRight) _penalise(d, d.challenger, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients);
        if (!defenderRight) _penalise(d, d.defender, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients);
        bytes32 winner = challengerRight ? d.challenger : (defenderRight ? d.defender : bytes32(0));
        bytes32 loser = challengerRight ? d.defender : (defenderRight ? d.challenger : bytes32(0));
        emit DisputeSettled(disputeId, winner, loser, hi, "majority");
    }

    function _penalise(Dispute storage d, bytes32 node, uint256 bps, INodeCertRegistry.SlashReason reason) private {
        verification.penaliseFor(d.jobId, node, bps, reason, false);
    }

    function _onlyParty(bytes32 node) private view {
        if (registry.operatorOf(node) != msg.sender) revert Dispute__NotParty(msg.sender, node);
    }

    function _inPhase(uint256 disputeId, Phase phase) private view returns (Dispute storage d) {
        d = _disputes[disputeId];
        if (d.phase != phase) revert Dispute__WrongPhase(disputeId, uint8(d.phase));
    }

    function _beforeDeadline(uint256 disputeId, Dispute storage d) private view {
        if (block.timestamp > d.deadline) revert Dispute__WindowClosed(disputeId, d.deadline);
    }
}

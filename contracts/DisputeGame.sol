// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {MerkleProof} from "./libraries/MerkleProof.sol";
import {INodeCertRegistry} from "./interfaces/INodeCertRegistry.sol";
import {IPoCVerification, INodeCertView, IVerificationManager} from "./interfaces/IVerification.sol";
import {IAIJobManager} from "./interfaces/IAIJobManager.sol";

/// @title DisputeGame
/// @notice When two nodes of one task group committed different results for a round, either may
/// open a dispute before the round is anchored (closed), posting a bond. Both commit the Merkle
/// root of their per-step weights digests s_0..s_N (leaf i = keccak256(0x00 ++ s_i), lib/merkle.ts
/// over 32-byte chunks; N is the job's fixed steps per round), opening s_0 (the round's start) and
/// s_N (their committed weightsDigest). Then they bisect: each reveals s_mid with a proof against
/// its own root; equal digests move the agreed end, different ones the disputed end, until one step
/// separates them: the first differing step.
/// @dev Settlement rule. The contract cannot run the kernel, so it decides, in order:
/// (1) whenever the task group has a strict majority of the whole group (at least two agreeing;
/// VerificationManager.groupMajority), the majority decides: the side that matches it wins, a side
/// that does not loses 50% (fake gradients) - also when a window was missed, so an honest node in
/// an honest majority never loses for being offline; (2) otherwise, at the single step, the dispute
/// is Unresolved and an authorised arbiter (the coordinator) that recomputes that one step from the
/// agreed digest with the deterministic kernel states the right s_hi within the arbitration window:
/// the side that does not match loses 50%; (3) otherwise, when a party missed a move (a party whose
/// openings do not match its own root or its commit cannot move at all: the call reverts), the
/// dispute is Unresolved too, and the arbiter recomputes the whole round and states its right
/// committed result: the side whose commit is not it loses 50%. A missed window alone costs
/// nothing: it proves nothing about who trained right (a laptop may sleep through one), and a
/// verdict on lateness let a job owner's own node, paired with an honest one, open a dispute in the
/// last round and take the honest node's pay for the whole job (zero quality, refunded to the
/// owner) when it missed one window. An unarbitrated dispute expires with nobody slashed.
/// Bond: the opener pays `disputeBond`; it is returned when the challenger wins or the dispute
/// expires unarbitrated, goes to the defender's operator when the defender was right, and to the
/// treasury (the owner) when both were wrong - so a made-up dispute against an honest node costs
/// its opener the bond and a 50% slash. Because the roots are committed before bisection, no party
/// can adapt its answers to the questions asked. Bonds are pull payments.
contract DisputeGame is Owned {
    /// @notice Thrown when the linked contracts are missing.
    error Dispute__NotLinked();
    /// @notice Thrown when the round was already closed on chain (or the job is not running).
    error Dispute__RoundAnchored(bytes32 jobId, uint32 round, uint32 currentRound);
    /// @notice Thrown when the two results do not conflict (missing, equal, or other task groups).
    error Dispute__NoConflict(bytes32 challenger, bytes32 defender);
    /// @notice Thrown when the caller is not the operator of the party it acts for.
    error Dispute__NotParty(address caller, bytes32 nodePubkey);
    /// @notice Thrown when a dispute's challenger is not active with stake (its loss would cost it
    /// nothing but the bond).
    error Dispute__ChallengerNotStaked(bytes32 challenger);
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
    /// @notice Thrown when the value sent to open a dispute is not the bond.
    error Dispute__WrongBond(uint256 sent, uint256 required);
    /// @notice Thrown when a configuration value is out of its range.
    error Dispute__InvalidConfig(uint256 value);
    /// @notice Thrown when there is nothing to withdraw.
    error Dispute__NothingToWithdraw(address account);
    /// @notice Thrown when a native transfer fails.
    error Dispute__TransferFailed(address to, uint256 amount);

    /// @notice Emitted when a dispute opens.
    event DisputeOpened(
        uint256 indexed disputeId, bytes32 indexed jobId, uint32 round, bytes32 challenger, bytes32 defender, uint32 steps
    );
    /// @notice Emitted when the opener's bond is held.
    event BondPosted(uint256 indexed disputeId, address indexed payer, uint256 amount);
    /// @notice Emitted when the defender commits its steps root.
    event DisputeDefended(uint256 indexed disputeId, bytes32 stepsRoot);
    /// @notice Emitted on each bisection move with the new interval.
    event Bisected(uint256 indexed disputeId, uint32 mid, bool agreed, uint32 lo, uint32 hi);
    /// @notice Emitted when one side reveals its digest at the midpoint (the halving follows once
    /// both have): who has moved, and what it said, is in the logs for watchers and the arbiter.
    event Revealed(uint256 indexed disputeId, bool challengerSide, uint32 mid, bytes32 digest);
    /// @notice Emitted when the dispute is decided; `loser` is zero when both lost.
    event DisputeSettled(uint256 indexed disputeId, bytes32 winner, bytes32 loser, uint32 step, string rule);
    /// @notice Emitted when the rule cannot decide: the single step the arbiter recomputes.
    event DisputeUnresolved(
        uint256 indexed disputeId,
        uint32 lo,
        uint32 hi,
        bytes32 agreedDigest,
        bytes32 challengerDigest,
        bytes32 defenderDigest,
        uint64 arbitrationDeadline
    );
    /// @notice Emitted when a missed window sends a dispute without a majority to the arbiter:
    /// who was late (both, when neither side moved during bisection).
    event DisputeTimedOut(uint256 indexed disputeId, bool challengerLate, bool defenderLate);
    /// @notice Emitted when an unresolved dispute expires without arbitration (nobody slashed).
    event DisputeExpired(uint256 indexed disputeId);
    /// @notice Emitted when a held bond is credited to an account.
    event BondCredited(uint256 indexed disputeId, address indexed to, uint256 amount);
    /// @notice Emitted when an account withdraws credited bonds.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when the move window changes.
    event MoveWindowSet(uint64 window);
    /// @notice Emitted when the arbitration window changes.
    event ArbitrationWindowSet(uint64 window);
    /// @notice Emitted when the dispute bond changes.
    event DisputeBondSet(uint256 bond);
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

    /// @notice One dispute. `agreed` is s_lo (both sides agree), `challengerHi`/`defenderHi` each
    /// side's s_hi (they differ).
    struct Dispute {
        bytes32 jobId;
        bytes32 challenger;
        bytes32 defender;
        bytes32 challengerRoot;
        bytes32 defenderRoot;
        bytes32 start;
        bytes32 agreed;
        bytes32 challengerHi;
        bytes32 defenderHi;
        bytes32 challengerMid;
        bytes32 defenderMid;
        address bondPayer;
        uint256 bond;
        uint32 round;
        uint32 steps;
        uint32 lo;
        uint32 hi;
        uint64 deadline;
        bool challengerIn;
        bool defenderIn;
        Phase phase;
        /// @dev The start is the round's anchored checkpoint (any round after the first).
        bool anchored;
        /// @dev Unresolved by a missed window: the arbiter states the round's right committed
        /// result (ProofOfCompute.resultHash), not s_hi.
        bool byResult;
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

    uint256 public constant FAKE_GRADIENTS_BPS = 5_000;
    /// @notice The largest bond the owner may ask for.
    uint256 public constant MAX_BOND = 100 ether;

    IPoCVerification public proofs;
    INodeCertView public registry;
    IAIJobManager public jobs;
    IVerificationManager public verification;
    /// @notice Seconds each party has for each move.
    uint64 public moveWindow = 30 minutes;
    /// @notice Seconds the arbiter has to decide an unresolved dispute.
    uint64 public arbitrationWindow = 1 days;
    /// @notice What opening a dispute costs up front (returned if the challenger wins).
    uint256 public disputeBond = 1 ether;
    uint256 public disputeCount;
    /// @notice Bonds of disputes not yet decided.
    uint256 public totalHeld;
    /// @notice Bonds credited and not yet withdrawn.
    uint256 public totalClaimable;

    mapping(uint256 disputeId => Dispute dispute) private _disputes;
    mapping(bytes32 pairKey => uint256 disputeId) private _byPair;
    mapping(address account => uint256 amount) private _claimable;

    /// @notice Links the contracts, once. Owner only.
    function setLinks(address proofs_, address registry_, address jobs_, address verification_) external onlyOwner {
        if (address(verification) != address(0)) revert Owned__AlreadyLinked();
        if (proofs_ == address(0) || registry_ == address(0) || jobs_ == address(0) || verification_ == address(0)) {
            revert Owned__ZeroAddress();
        }
        proofs = IPoCVerification(proofs_);
        registry = INodeCertView(registry_);
        jobs = IAIJobManager(jobs_);
        verification = IVerificationManager(verification_);
        emit LinksSet(proofs_, registry_, jobs_, verification_);
    }

    /// @notice Sets the move window in seconds (1 minute to 1 day). Owner only.
    function setMoveWindow(uint64 window) external onlyOwner {
        if (window < 1 minutes || window > 1 days) revert Dispute__InvalidConfig(window);
        moveWindow = window;
        emit MoveWindowSet(window);
    }

    /// @notice Sets the arbitration window in seconds (1 minute to 7 days). Owner only.
    function setArbitrationWindow(uint64 window) external onlyOwner {
        if (window < 1 minutes || window > 7 days) revert Dispute__InvalidConfig(window);
        arbitrationWindow = window;
        emit ArbitrationWindowSet(window);
    }

    /// @notice Sets the bond for opening a dispute (1 wei to MAX_BOND). Owner only.
    function setDisputeBond(uint256 bond) external onlyOwner {
        if (bond == 0 || bond > MAX_BOND) revert Dispute__InvalidConfig(bond);
        disputeBond = bond;
        emit DisputeBondSet(bond);
    }

    /// @notice Opens a dispute against another node of the same task group whose committed
    /// result differs, before the round is closed, holding `disputeBond` (sent as value). The
    /// challenger's operator only, for a challenger active with stake.
    /// @param jobId The job.
    /// @param round The open round.
    /// @param challenger The challenger's node.
    /// @param defender The node whose result is disputed.
    /// @param ends The challenger's digest triple, steps root and openings of s_0 and s_N, where N
    /// is the job's steps per round (the tree has N + 1 leaves).
    /// @return disputeId The dispute.
    function open(bytes32 jobId, uint32 round, bytes32 challenger, bytes32 defender, Ends calldata ends)
        external
        payable
        returns (uint256 disputeId)
    {
        if (address(verification) == address(0)) revert Dispute__NotLinked();
        if (msg.value != disputeBond) revert Dispute__WrongBond(msg.value, disputeBond);
        _onlyParty(challenger);
        (, uint256 stake, bool active) = registry.standingOf(challenger);
        if (stake == 0 || !active) revert Dispute__ChallengerNotStaked(challenger);
        IAIJobManager.RoundInfo memory info = jobs.roundInfo(jobId);
        if (info.status != IAIJobManager.JobStatus.Running || info.currentRound != round) {
            revert Dispute__RoundAnchored(jobId, round, info.currentRound);
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
        bytes32 start = info.latestWeightsDigest != bytes32(0) ? info.latestWeightsDigest : ends.startDigest;
        uint32 steps = info.stepsPerRound;
        _checkEnds(rc, steps, start, ends);
        disputeId = ++disputeCount;
        _byPair[pair] = disputeId;
        Dispute storage d = _disputes[disputeId];
        d.jobId = jobId;
        d.challenger = challenger;
        d.defender = defender;
        d.challengerRoot = ends.stepsRoot;
        d.start = start;
        d.agreed = start;
        d.challengerHi = ends.weightsDigest;
        d.bondPayer = msg.sender;
        d.bond = msg.value;
        d.round = round;
        d.steps = steps;
        d.hi = steps;
        d.deadline = uint64(block.timestamp) + moveWindow;
        d.phase = Phase.AwaitDefence;
        d.anchored = info.latestWeightsDigest != bytes32(0);
        totalHeld += msg.value;
        // Bisection can outlast the settlement delay: the job's settlement waits for the verdict.
        proofs.openCase(jobId);
        emit DisputeOpened(disputeId, jobId, round, challenger, defender, steps);
        emit BondPosted(disputeId, msg.sender, msg.value);
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
        d.defenderHi = ends.weightsDigest;
        emit DisputeDefended(disputeId, ends.stepsRoot);
        if (ends.startDigest != d.start) {
            // After round 0 the start is the chain's own checkpoint: a defender that trained from
            // another one is wrong, whatever its group says (else it escaped to an unresolved
            // majority and the challenger's bond waited for the arbiter).
            if (d.anchored) return _finish(disputeId, d, true, false, "start");
            // Round 0 (no anchored start): the disputed point is s_0 itself.
            (d.lo, d.hi, d.agreed) = (0, 0, bytes32(0));
            (d.challengerHi, d.defenderHi) = (d.start, ends.startDigest);
            return _settleByMajority(disputeId, d);
        }
        d.phase = Phase.Bisecting;
        d.deadline = uint64(block.timestamp) + moveWindow;
        if (d.hi - d.lo <= 1) _settleByMajority(disputeId, d);
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
        emit Revealed(disputeId, challengerSide, mid, digest);
        if (!(d.challengerIn && d.defenderIn)) return;
        bool agreed = d.challengerMid == d.defenderMid;
        if (agreed) {
            (d.lo, d.agreed) = (mid, d.challengerMid);
        } else {
            (d.hi, d.challengerHi, d.defenderHi) = (mid, d.challengerMid, d.defenderMid);
        }
        (d.challengerIn, d.defenderIn) = (false, false);
        d.deadline = uint64(block.timestamp) + moveWindow;
        emit Bisected(disputeId, mid, agreed, d.lo, d.hi);
        if (d.hi - d.lo <= 1) _settleByMajority(disputeId, d);
    }

    /// @notice After a missed window: the group's strict majority decides if there is one (see the
    /// settlement rule); otherwise the dispute goes to the arbiter, who states the round's right
    /// committed result. Anyone may call it.
    /// @param disputeId The dispute.
    function timeout(uint256 disputeId) external {
        Dispute storage d = _disputes[disputeId];
        if (d.phase != Phase.AwaitDefence && d.phase != Phase.Bisecting) revert Dispute__WrongPhase(disputeId, uint8(d.phase));
        if (block.timestamp <= d.deadline) revert Dispute__WindowOpen(disputeId, d.deadline);
        (bytes32 majority,,, bool consensus) = verification.groupMajority(d.jobId, d.round, _group(d));
        if (consensus) return _decide(disputeId, d, majority, "majority");
        bool challengerLate = d.phase == Phase.Bisecting && !d.challengerIn;
        bool defenderLate = d.phase == Phase.AwaitDefence || !d.defenderIn;
        emit DisputeTimedOut(disputeId, challengerLate, defenderLate);
        d.byResult = true;
        d.phase = Phase.Unresolved;
        d.deadline = uint64(block.timestamp) + arbitrationWindow;
        emit DisputeUnresolved(disputeId, d.lo, d.hi, d.agreed, d.challengerHi, d.defenderHi, d.deadline);
    }

    /// @notice Decides an unresolved dispute: `digest` is s_hi as the arbiter recomputed it from
    /// the agreed s_lo with the deterministic kernel (one step), or, for a dispute a missed window
    /// sent here (`byResult`), the round's right committed result. The side whose s_hi (or commit)
    /// differs loses 50% (fake gradients). Authorised arbiter only, within the arbitration window.
    /// @param disputeId The dispute.
    /// @param digest The right weights digest after step `hi` (for a disputed start, s_0), or the
    /// right result hash.
    function arbitrate(uint256 disputeId, bytes32 digest) external onlyAuthorised {
        Dispute storage d = _inPhase(disputeId, Phase.Unresolved);
        _beforeDeadline(disputeId, d);
        if (d.byResult) return _decide(disputeId, d, digest, "arbiter");
        bool challengerRight = d.challengerHi == digest;
        bool defenderRight = d.defenderHi == digest;
        _finish(disputeId, d, challengerRight, defenderRight, "arbiter");
    }

    /// @notice Ends an unresolved dispute nobody arbitrated in time: no slash, the bond returns to
    /// its payer. Anyone may call it after the arbitration window.
    /// @param disputeId The dispute.
    function expire(uint256 disputeId) external {
        Dispute storage d = _inPhase(disputeId, Phase.Unresolved);
        if (block.timestamp <= d.deadline) revert Dispute__WindowOpen(disputeId, d.deadline);
        _end(d);
        emit DisputeExpired(disputeId);
        _credit(disputeId, d, d.bondPayer);
    }

    /// @notice Pays out every bond credited to the caller (pull payment).
    function withdraw() external {
        uint256 amount = _claimable[msg.sender];
        if (amount == 0) revert Dispute__NothingToWithdraw(msg.sender);
        _claimable[msg.sender] = 0;
        totalClaimable -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert Dispute__TransferFailed(msg.sender, amount);
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

    /// @notice What `account` can withdraw.
    function claimableOf(address account) external view returns (uint256) {
        return _claimable[account];
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

    function _group(Dispute storage d) private view returns (uint32) {
        return verification.groupOf(d.jobId, d.challenger);
    }

    /// @dev At the single step: the group's strict majority decides, else the arbiter will.
    function _settleByMajority(uint256 disputeId, Dispute storage d) private {
        (bytes32 majority,,, bool consensus) = verification.groupMajority(d.jobId, d.round, _group(d));
        if (consensus) return _decide(disputeId, d, majority, "majority");
        d.phase = Phase.Unresolved;
        d.deadline = uint64(block.timestamp) + arbitrationWindow;
        emit DisputeUnresolved(disputeId, d.lo, d.hi, d.agreed, d.challengerHi, d.defenderHi, d.deadline);
    }

    /// @dev A verdict by the right committed result: the group's majority, or the arbiter's.
    function _decide(uint256 disputeId, Dispute storage d, bytes32 right, string memory rule) private {
        bool challengerRight = proofs.resultOf(d.jobId, d.round, d.challenger) == right;
        bool defenderRight = proofs.resultOf(d.jobId, d.round, d.defender) == right;
        _finish(disputeId, d, challengerRight, defenderRight, rule);
    }

    /// @dev Settles with a verdict: a wrong side loses 50%, the bond follows the verdict.
    function _finish(
        uint256 disputeId,
        Dispute storage d,
        bool challengerRight,
        bool defenderRight,
        string memory rule
    ) private {
        _end(d);
        bytes32 winner = challengerRight ? d.challenger : (defenderRight ? d.defender : bytes32(0));
        bytes32 loser = challengerRight ? d.defender : (defenderRight ? d.challenger : bytes32(0));
        emit DisputeSettled(disputeId, winner, loser, d.hi, rule);
        if (!challengerRight) _penalise(d, d.challenger, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients);
        if (!defenderRight) _penalise(d, d.defender, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients);
        _payBond(disputeId, d, challengerRight, defenderRight);
    }

    /// @dev The bond returns to its payer when the challenger was right, goes to the defender's
    /// operator when only the defender was, and to the treasury when neither was.
    function _payBond(uint256 disputeId, Dispute storage d, bool challengerRight, bool defenderRight) private {
        if (challengerRight) return _credit(disputeId, d, d.bondPayer);
        if (defenderRight) return _credit(disputeId, d, registry.operatorOf(d.defender));
        _credit(disputeId, d, owner());
    }

    /// @dev Every way a dispute ends: the job's settlement no longer waits for it.
    function _end(Dispute storage d) private {
        d.phase = Phase.Settled;
        proofs.closeCase(d.jobId);
    }

    function _credit(uint256 disputeId, Dispute storage d, address to) private {
        uint256 amount = d.bond;
        d.bond = 0;
        totalHeld -= amount;
        _claimable[to] += amount;
        totalClaimable += amount;
        emit BondCredited(disputeId, to, amount);
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

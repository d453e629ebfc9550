// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {IAIJobManager} from "./interfaces/IAIJobManager.sol";
import {INodeCertRegistry} from "./interfaces/INodeCertRegistry.sol";
import {IReputationRegistry} from "./interfaces/IReputationRegistry.sol";
import {IProofOfCompute} from "./interfaces/IProofOfCompute.sol";
import {Domain} from "./libraries/Domain.sol";

/// @title ProofOfCompute
/// @notice Training proofs committed once per node per round, redundancy checks over them,
/// verification hooks (quality, penalties), and the finalisation that pays rewards.
/// @dev A commit stores one slot (the result hash) and updates one packed slot of per-node work,
/// which keeps it under 60k gas. The per-step TrainProofs, with their Ed25519 signatures, travel
/// off-chain; the commit carries the Merkle root of their hashes (see `hashTrainProof`).
/// Work is not self-reported: a commit says only what the node computed, for the one round that is
/// open; the job fixed at submission how many steps, samples and GPU-seconds a round stands for,
/// and settlement pays committed rounds at those terms, weighted by verification's quality.
contract ProofOfCompute is Owned, IProofOfCompute {
    /// @notice Thrown when the caller is not the job manager.
    error PoC__NotJobManager(address caller);
    /// @notice Thrown when the sender is not the assigned operator of the node for the job.
    error PoC__NotAssigned(bytes32 jobId, bytes32 nodePubkey, address sender);
    /// @notice Thrown when a node commits twice for one round.
    error PoC__AlreadyCommitted(bytes32 jobId, uint32 round, bytes32 nodePubkey);
    /// @notice Thrown when a commit arrives after the job was settled.
    error PoC__AlreadySettled(bytes32 jobId, bytes32 nodePubkey);
    /// @notice Thrown when a commit carries no work.
    error PoC__EmptyCommit();
    /// @notice Thrown when a commit names a round other than the job's open round (a closed round's
    /// commits are final; a future round's work cannot exist yet).
    error PoC__RoundNotOpen(uint32 round, uint32 openRound);
    /// @notice Thrown on a commit to a job whose owner abandoned it.
    error PoC__CommitsSealed(bytes32 jobId);
    /// @notice Thrown when a job is settled before its settlement delay has passed.
    error PoC__SettlementDelay(bytes32 jobId, uint256 readyAt);
    /// @notice Thrown when a settlement delay above MAX_SETTLEMENT_DELAY is set.
    error PoC__InvalidDelay(uint64 delay);
    /// @notice Thrown when finalising a job that has not completed all rounds.
    error PoC__JobNotCompleted(bytes32 jobId, IAIJobManager.JobStatus status);
    /// @notice Thrown when finalising a job a second time.
    error PoC__AlreadyFinalized(bytes32 jobId);
    /// @notice Thrown when a basis-point value is above its bound.
    error PoC__BpsOutOfRange(uint256 bps);
    /// @notice Thrown when the linked contracts are missing.
    error PoC__NotLinked();
    /// @notice Thrown when a settlement batch of zero nodes is asked for.
    error PoC__EmptyBatch();
    /// @notice Thrown when a job is settled while challenges, disputes or attestations on it are
    /// still open: their outcome may still zero a node's share.
    error PoC__CasesOpen(bytes32 jobId, uint256 open);
    /// @notice Thrown when a verification case opens on a job whose settlement is due (or that is
    /// neither running nor completed): nobody can hold a settlement back for ever.
    error PoC__VerificationOver(bytes32 jobId);
    /// @notice Thrown when a case is closed on a job with none open.
    error PoC__NoOpenCase(bytes32 jobId);

    /// @notice Emitted once per node per round with everything the round's proofs commit to.
    event RoundCommitted(
        bytes32 indexed jobId,
        bytes32 indexed nodePubkey,
        uint32 round,
        bytes32 resultHash,
        bytes32 lossDigest,
        bytes32 gradientDigest,
        bytes32 weightsDigest,
        bytes32 proofsRoot
    );
    /// @notice Emitted when a round of a job stops taking commits.
    event RoundSealed(bytes32 indexed jobId, uint32 round, uint256 blockNumber);
    /// @notice Emitted when a job stops taking commits for good (abandoned by its owner).
    event CommitsSealed(bytes32 indexed jobId, uint32 openRound);
    /// @notice Emitted when a task group's majority confirms a node's commit to the round an
    /// abandoned job left open: that commit is paid.
    event SealedCommitConfirmed(bytes32 indexed jobId, bytes32 indexed nodePubkey);
    /// @notice Emitted at settlement for a commit to the round an abandoned job left open that no
    /// majority confirmed: the round is not counted in the node's pay.
    event SealedCommitUnpaid(bytes32 indexed jobId, bytes32 indexed nodePubkey, uint32 round);
    /// @notice Emitted when the settlement delay changes.
    event SettlementDelaySet(uint64 delay);
    /// @notice Emitted when an operator may commit for a node.
    event Authorized(bytes32 indexed jobId, bytes32 indexed nodePubkey, address operator, bool allowed);
    /// @notice Emitted when verification sets a node's quality multiplier for a job.
    event QualitySet(bytes32 indexed jobId, bytes32 indexed nodePubkey, uint256 qualityBps);
    /// @notice Emitted when verification penalises a node.
    event NodePenalised(bytes32 indexed jobId, bytes32 indexed nodePubkey, uint256 slashed, INodeCertRegistry.SlashReason reason);
    /// @notice Emitted for every node paid at finalisation.
    event RewardCredited(
        bytes32 indexed jobId,
        bytes32 indexed nodePubkey,
        address indexed operator,
        uint256 batchReward,
        uint256 stepReward,
        uint256 roundReward,
        uint256 accuracyBonus
    );
    /// @notice Emitted after each settlement batch: nodes tallied and paid out of `nodes`.
    event SettlementProgress(bytes32 indexed jobId, uint32 tallied, uint32 paid, uint256 nodes);
    /// @notice Emitted when a challenge, dispute or attestation on a job starts; `open` counts them.
    event CaseOpened(bytes32 indexed jobId, uint256 open);
    /// @notice Emitted when a challenge, dispute or attestation on a job ends; `open` counts the rest.
    event CaseClosed(bytes32 indexed jobId, uint256 open);
    /// @notice Emitted when a job's rewards are settled.
    event JobFinalized(bytes32 indexed jobId, uint256 paid, uint256 refund);
    /// @notice Emitted when the linked contracts are set.
    event LinksSet(address jobManager, address registry, address reputation);

    /// @notice One node's commitment for one round (one transaction).
    struct RoundCommit {
        bytes32 jobId;
        uint32 round;
        bytes32 nodePubkey;
        bytes32 lossDigest;
        bytes32 gradientDigest;
        bytes32 weightsDigest;
        bytes32 proofsRoot;
    }

    /// @notice A per-step training proof (design doc, "Hash Commits Strategy"). Signed off-chain with Ed25519.
    struct TrainProof {
        bytes32 jobId;
        uint256 step;
        bytes32 lossDigest;
        bytes32 gradientDigest;
        bytes32 weightsDigest;
        uint64 timestamp;
        bytes32 nodePubkey;
    }

    /// @dev Work of one node on one job, packed in one slot (144 bits): how many rounds it
    /// committed (each worth the job's fixed per-round work), verification's multiplier, and the
    /// job's round count (so the bound costs no extra storage read).
    struct Work {
        bool authorised;
        bool settled;
        uint16 qualityBps;
        uint32 maxRounds;
        uint32 rounds;
        uint32 lastRound;
    }

    /// @notice The reward pools, as shares of the job budget.
    uint256 public constant BPS = 10_000;
    uint256 public constant BATCH_POOL_BPS = 4_000;
    uint256 public constant STEP_POOL_BPS = 2_000;
    uint256 public constant ROUND_POOL_BPS = 3_000;
    uint256 public constant ACCURACY_POOL_BPS = 1_000;
    /// @notice Batch multiplier: +0.1% per sample per step, at most +20% (larger batches are
    /// more efficient for the network, design doc, "Reward Per Batch").
    uint256 public constant BATCH_BONUS_BPS_PER_SAMPLE = 10;
    uint256 public constant MAX_BATCH_BONUS_BPS = 2_000;
    uint256 public constant DEFAULT_QUALITY_BPS = 10_000;
    uint256 public constant MAX_QUALITY_BPS = 20_000;
    /// @notice The longest settlement delay the owner may set.
    uint64 public constant MAX_SETTLEMENT_DELAY = 30 days;
    /// @dev EIP-712 type of a TrainProof (lib/train_proof.ts signs the same typed data).
    bytes32 public constant TRAIN_PROOF_TYPEHASH = keccak256(
        "TrainProof(bytes32 jobId,uint256 step,bytes32 lossDigest,bytes32 gradientDigest,bytes32 weightsDigest,uint64 timestamp,bytes32 nodePubkey)"
    );

    IAIJobManager public jobManager;
    INodeCertRegistry public registry;
    IReputationRegistry public reputation;

    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 nodePubkey => bytes32 resultHash))) private
        _results;
    mapping(bytes32 workKey => Work work) private _work;
    mapping(bytes32 jobId => Settlement settlement) private _settlements;
    /// @dev The open round and whether the owner abandoned the job, in one slot: commitRound reads
    /// both, and a second cold slot put it past its gas target.
    struct RoundState {
        uint32 open;
        bool sealed_;
    }

    mapping(bytes32 jobId => RoundState) private _rounds;
    mapping(bytes32 jobId => mapping(uint32 round => uint256 blockNumber)) private _closedBlock;
    mapping(bytes32 jobId => uint256 open) private _openCases;
    /// @notice Seconds between a job's last round closing and its settlement, so challenges and
    /// disputes on the last rounds can still cut a cheater's reward (owner-set, default 1 hour).
    uint64 public settlementDelay = 1 hours;
    /// @notice Commits to the round an abandoned job left open that a task group's majority
    /// confirmed: only those of that round are paid.
    mapping(bytes32 jobId => mapping(bytes32 nodePubkey => bool)) public sealedCommitConfirmed;

    /// @notice Links the job manager, node registry and reputation registry, once. Owner only.
    function setLinks(address jobManager_, address registry_, address reputation_) external onlyOwner {
        if (address(jobManager) != address(0)) revert Owned__AlreadyLinked();
        if (jobManager_ == address(0) || registry_ == address(0) || reputation_ == address(0)) {
            revert Owned__ZeroAddress();
        }
        jobManager = IAIJobManager(jobManager_);
        registry = INodeCertRegistry(registry_);
        reputation = IReputationRegistry(reputation_);
        emit LinksSet(jobManager_, registry_, reputation_);
    }

    /// @notice Sets the settlement delay in seconds (at most 30 days). Owner only.
    function setSettlementDelay(uint64 delay) external onlyOwner {
        if (delay > MAX_SETTLEMENT_DELAY) revert PoC__InvalidDelay(delay);
        settlementDelay = delay;
        emit SettlementDelaySet(delay);
    }

    /// @inheritdoc IProofOfCompute
    function authorize(bytes32 jobId, bytes32 nodePubkey, address operator, uint32 rounds) external {
        if (msg.sender != address(jobManager)) revert PoC__NotJobManager(msg.sender);
        Work storage w = _work[workKey(jobId, nodePubkey, operator)];
        w.authorised = true;
        w.qualityBps = uint16(DEFAULT_QUALITY_BPS);
        w.maxRounds = rounds;
        emit Authorized(jobId, nodePubkey, operator, true);
    }

    /// @inheritdoc IProofOfCompute
    function roundClosed(bytes32 jobId, uint32 round) external {
        if (msg.sender != address(jobManager)) revert PoC__NotJobManager(msg.sender);
        _rounds[jobId].open = round + 1;
        _closedBlock[jobId][round] = block.number;
        emit RoundSealed(jobId, round, block.number);
    }

    /// @inheritdoc IProofOfCompute
    function sealCommits(bytes32 jobId) external {
        if (msg.sender != address(jobManager)) revert PoC__NotJobManager(msg.sender);
        RoundState storage rs = _rounds[jobId];
        uint32 open = rs.open;
        rs.sealed_ = true;
        // The round left open is closed here, as a round close does: its commits are paid, so
        // redundancy, spot checks and challenges must be able to judge them. Left open, a made-up
        // commit beside honest mates' could be settled by nothing and was paid its share.
        rs.open = open + 1;
        _closedBlock[jobId][open] = block.number;
        emit RoundSealed(jobId, open, block.number);
        emit CommitsSealed(jobId, open);
    }

    /// @notice Records that a task group's settled majority agrees with `nodePubkey`'s commit to
    /// `round`: a passed proof on its reputation. The round an abandoned job left open also needs
    /// it to be paid: nothing else judges that round
    /// once its coordinator stopped (no spot check, challenge or committee; no dispute, the job no
    /// longer running), so only its confirmed commits are paid. A node that committed made-up
    /// digests there, with no group mate to outvote it, was paid its share. A confirmation after
    /// the node's work was tallied for settlement changes nothing. Authorised verifiers only.
    /// @param jobId The job.
    /// @param round The round the majority settled.
    /// @param nodePubkey A node whose commit the majority agrees with.
    function confirmCommit(bytes32 jobId, uint32 round, bytes32 nodePubkey) external onlyAuthorised {
        reputation.recordProof(nodePubkey, true);
        RoundState memory rs = _rounds[jobId];
        if (!rs.sealed_ || round + 1 != rs.open) return;
        // Once the node's work was tallied its pay is fixed: a confirmation after it changes none.
        if (_assignedWork(jobId, nodePubkey).settled) return;
        sealedCommitConfirmed[jobId][nodePubkey] = true;
        emit SealedCommitConfirmed(jobId, nodePubkey);
    }

    /// @inheritdoc IProofOfCompute
    function deauthorize(bytes32 jobId, bytes32 nodePubkey, address operator) external {
        if (msg.sender != address(jobManager)) revert PoC__NotJobManager(msg.sender);
        _work[workKey(jobId, nodePubkey, operator)].authorised = false;
        emit Authorized(jobId, nodePubkey, operator, false);
    }

    /// @notice Commits one round of training by one node: the digests of its loss values,
    /// gradient and weights, and the Merkle root of its per-step TrainProof hashes, for the job's
    /// open round only. Authenticated by `msg.sender` being the operator the node was assigned
    /// under. How much work the round was is the job's term, not the node's claim.
    /// @param c The round commitment.
    function commitRound(RoundCommit calldata c) external {
        if (c.weightsDigest == bytes32(0)) revert PoC__EmptyCommit();
        Work storage w = _work[workKey(c.jobId, c.nodePubkey, msg.sender)];
        if (!w.authorised) revert PoC__NotAssigned(c.jobId, c.nodePubkey, msg.sender);
        if (w.settled) revert PoC__AlreadySettled(c.jobId, c.nodePubkey);
        // Only the open round: a closed round's commits are what redundancy, spot checks and
        // disputes already judged, and a future round has no starting checkpoint yet. Once the
        // last round closed, the open round equals the round count, which the bound refuses.
        RoundState memory rs = _rounds[c.jobId];
        uint32 open = rs.open;
        if (c.round != open || c.round >= w.maxRounds) revert PoC__RoundNotOpen(c.round, open);
        // An abandoned job's open round never closes: a commit made to it after the owner ended
        // the job (by a node that never worked it) could be judged by nothing and was paid.
        if (rs.sealed_) revert PoC__CommitsSealed(c.jobId);
        mapping(bytes32 => bytes32) storage roundResults = _results[c.jobId][c.round];
        if (roundResults[c.nodePubkey] != bytes32(0)) revert PoC__AlreadyCommitted(c.jobId, c.round, c.nodePubkey);

        bytes32 result = resultHash(c.lossDigest, c.gradientDigest, c.weightsDigest);
        roundResults[c.nodePubkey] = result;
        w.rounds += 1;
        w.lastRound = c.round;
        emit RoundCommitted(
            c.jobId,
            c.nodePubkey,
            c.round,
            result,
            c.lossDigest,
            c.gradientDigest,
            c.weightsDigest,
            c.proofsRoot
        );
    }

    // ------------------------------------------------------------ verification hooks

    /// @notice Sets the quality multiplier verification gives a node on a job (0 to 2x).
    /// Authorised verifiers only.
    /// @param jobId The job.
    /// @param nodePubkey The node.
    /// @param qualityBps Multiplier in basis points; 10,000 is neutral.
    function setQuality(bytes32 jobId, bytes32 nodePubkey, uint256 qualityBps) external onlyAuthorised {
        if (qualityBps > MAX_QUALITY_BPS) revert PoC__BpsOutOfRange(qualityBps);
        Work storage w = _assignedWork(jobId, nodePubkey);
        // Settlement totals were tallied with the old multiplier: changing it now would overpay.
        if (w.settled) revert PoC__AlreadySettled(jobId, nodePubkey);
        w.qualityBps = uint16(qualityBps);
        emit QualitySet(jobId, nodePubkey, qualityBps);
    }

    /// @notice Penalises a node caught by verification: zero quality on the job, a slash of
    /// `slashBps` of its stake, a failed proof on its reputation. Authorised verifiers only.
    /// @param jobId The job.
    /// @param nodePubkey The node.
    /// @param slashBps Share of stake to slash.
    /// @param reason Why.
    /// @param deactivate Whether the node is also deactivated.
    function penalise(
        bytes32 jobId,
        bytes32 nodePubkey,
        uint256 slashBps,
        INodeCertRegistry.SlashReason reason,
        bool deactivate
    ) external onlyAuthorised {
        if (slashBps > BPS) revert PoC__BpsOutOfRange(slashBps);
        Work storage w = _assignedWork(jobId, nodePubkey);
        // Late evidence still costs stake; the reward share is fixed once settlement began.
        if (!w.settled) {
            w.qualityBps = 0;
            emit QualitySet(jobId, nodePubkey, 0);
        }
        uint256 slashed = registry.slashBps(nodePubkey, slashBps, reason, deactivate);
        emit NodePenalised(jobId, nodePubkey, slashed, reason);
        reputation.recordProof(nodePubkey, false);
    }

    /// @notice Records that a challenge, dispute or attestation on `jobId` started: settlement
    /// waits until it ends, however long it runs past the settlement delay. Authorised verifiers
    /// only, and only until the job's settlement is due, so a case can delay a settlement by its
    /// own window at most.
    /// @param jobId The job.
    function openCase(bytes32 jobId) external onlyAuthorised {
        if (!verificationOpen(jobId)) revert PoC__VerificationOver(jobId);
        uint256 open = ++_openCases[jobId];
        emit CaseOpened(jobId, open);
    }

    /// @notice Records that a case opened with `openCase` ended (answered, timed out, decided or
    /// expired). Authorised verifiers only.
    /// @param jobId The job.
    function closeCase(bytes32 jobId) external onlyAuthorised {
        uint256 open = _openCases[jobId];
        if (open == 0) revert PoC__NoOpenCase(jobId);
        _openCases[jobId] = open - 1;
        emit CaseClosed(jobId, open - 1);
    }

    // ---------------------------------------------------------------------- settlement

    /// @notice Pays every node of a completed job from its escrow (credited, then pulled with
    /// AIJobManager.withdraw) and refunds the rest to the job owner, once the settlement delay has
    /// passed and no challenge, dispute or attestation on the job is open. Anyone may call it.
    /// A node must stay staked until its jobs settle: one whose stake is zero by then is not paid.
    /// Pools: per batch 40% (gpuSeconds x baseRate x batch multiplier), per step 20%, per round
    /// 30%, accuracy bonus 10% (when the reported improvement meets the target); shares of the
    /// step, round and bonus pools are weighted by each node's quality multiplier.
    /// @param jobId The job.
    function finalize(bytes32 jobId) external {
        finalizeBatch(jobId, type(uint256).max);
    }

    /// @notice Settles a completed job in bounded pieces, so jobs with more nodes than one block
    /// can pay still settle: first every node's work is tallied (and frozen: no more commits or
    /// quality changes), then nodes are paid in assignment order. Anyone may call it repeatedly.
    /// @param jobId The job.
    /// @param maxNodes Most nodes tallied or paid by this call.
    /// @return done Whether the job is now finalized.
    function finalizeBatch(bytes32 jobId, uint256 maxNodes) public returns (bool done) {
        if (address(jobManager) == address(0)) revert PoC__NotLinked();
        if (maxNodes == 0) revert PoC__EmptyBatch();
        IAIJobManager.JobTerms memory t = jobManager.termsOf(jobId);
        if (t.status == IAIJobManager.JobStatus.Finalized) revert PoC__AlreadyFinalized(jobId);
        if (t.status != IAIJobManager.JobStatus.Completed) revert PoC__JobNotCompleted(jobId, t.status);
        uint256 readyAt = uint256(t.completedAt) + settlementDelay;
        if (block.timestamp < readyAt) revert PoC__SettlementDelay(jobId, readyAt);
        Settlement storage st = _settlements[jobId];
        // A challenge of the last round opened after it closed ends after the delay does; paying
        // before its outcome would pay the cheater it catches. No case opens once this is past.
        uint256 open = _openCases[jobId];
        if (open != 0) revert PoC__CasesOpen(jobId, open);

        // One node read per node settled: copying the whole list each call would cost every batch
        // of a 10,000-node job more than a block holds.
        uint256 count = jobManager.nodeCount(jobId);
        uint256 budget = maxNodes;
        RoundState memory rs = _rounds[jobId];
        while (budget > 0 && st.tallied < count) {
            bytes32 node = jobManager.nodeAt(jobId, st.tallied);
            Work storage w = _work[workKey(jobId, node, jobManager.assignedOperator(jobId, node))];
            w.settled = true;
            // The round an abandoned job left open counts only where a majority confirmed it.
            if (rs.sealed_ && w.rounds > 0 && w.lastRound + 1 == rs.open && !sealedCommitConfirmed[jobId][node]) {
                w.rounds -= 1;
                emit SealedCommitUnpaid(jobId, node, w.lastRound);
            }
            // A node whose stake is gone (withdrawn after unbonding, or slashed away) before its job
            // settles had nothing slashable behind the rounds it committed, cheated or not: they
            // are not paid.
            if (w.qualityBps != 0 && registry.stakeOf(node) == 0) {
                w.qualityBps = 0;
                emit QualitySet(jobId, node, 0);
            }
            // An unpaid node's work still counts in the pools' totals at neutral quality: its share
            // returns to the job's owner with the rest of the escrow. Found reviewing attacks 39:
            // shared among the others, it paid whoever slashed it with nodes on the same job.
            uint256 weight = w.qualityBps == 0 ? DEFAULT_QUALITY_BPS : w.qualityBps;
            st.weightedSteps += _steps(w, t) * weight;
            st.weightedRounds += uint256(w.rounds) * weight;
            st.weightedSamples += _steps(w, t) * t.samplesPerStep * weight;
            st.batchDemand += _batchDemand(w, t, weight);
            st.tallied += 1;
            --budget;
        }
        // The bonus is decided by the batch that pays first: reportAccuracy stays open while the
        // job is Completed, and a change between batches paid the bonus to some nodes and not
        // to others (attacks 32).
        if (st.paid == 0) {
            st.bonus = t.targetImprovementBps > 0 && t.achievedImprovementBps >= t.targetImprovementBps;
        }
        bool bonus = st.bonus;
        while (budget > 0 && st.tallied == count && st.paid < count) {
            bytes32 node = jobManager.nodeAt(jobId, st.paid);
            st.totalPaid += _settle(jobId, node, jobManager.assignedOperator(jobId, node), t, st, bonus);
            st.paid += 1;
            --budget;
        }
        emit SettlementProgress(jobId, st.tallied, st.paid, count);
        if (st.paid < count) return false;
        uint256 refund = jobManager.markFinalized(jobId);
        emit JobFinalized(jobId, st.totalPaid, refund);
        return true;
    }

    // ---------------------------------------------------------------------------- views

    /// @notice The key of a node's work record on a job under an operator.
    function workKey(bytes32 jobId, bytes32 nodePubkey, address operator) public pure returns (bytes32) {
        return keccak256(abi.encode(jobId, nodePubkey, operator));
    }

    /// @notice The result hash a round commit stores: equal for nodes that computed the same task.
    function resultHash(bytes32 lossDigest, bytes32 gradientDigest, bytes32 weightsDigest)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(lossDigest, gradientDigest, weightsDigest));
    }

    /// @notice The EIP-712 digest of a TrainProof (domain: ArthaTrain v1, this chain, this
    /// contract) that goes into a commit's proofsRoot and is Ed25519-signed.
    function hashTrainProof(TrainProof calldata p) external view returns (bytes32) {
        return Domain.digest(
            address(this),
            keccak256(
                abi.encode(
                    TRAIN_PROOF_TYPEHASH,
                    p.jobId,
                    p.step,
                    p.lossDigest,
                    p.gradientDigest,
                    p.weightsDigest,
                    p.timestamp,
                    p.nodePubkey
                )
            )
        );
    }

    /// @notice The EIP-712 domain separator of this contract (ArthaTrain v1, this chain).
    function domainSeparator() external view returns (bytes32) {
        return Domain.separator(address(this));
    }

    /// @notice The round of `jobId` that takes commits now; every round below it is closed.
    function openRoundOf(bytes32 jobId) external view returns (uint32) {
        return _rounds[jobId].open;
    }

    /// @notice The block in which `round` of `jobId` closed (zero while open): the block whose hash
    /// draws the round's spot check and committee.
    function closedBlockOf(bytes32 jobId, uint32 round) external view returns (uint256) {
        return _closedBlock[jobId][round];
    }

    /// @notice The result hash `nodePubkey` committed for `round` of `jobId` (zero if none).
    function resultOf(bytes32 jobId, uint32 round, bytes32 nodePubkey) external view returns (bytes32) {
        return _results[jobId][round][nodePubkey];
    }

    /// @notice Challenges, disputes and attestations open on `jobId`; settlement waits for none.
    function openCasesOf(bytes32 jobId) external view returns (uint256) {
        return _openCases[jobId];
    }

    /// @notice Whether a verification case may still open on `jobId`: it is running, or completed
    /// and its settlement delay has not yet passed.
    function verificationOpen(bytes32 jobId) public view returns (bool) {
        IAIJobManager.JobTerms memory t = jobManager.termsOf(jobId);
        if (t.status == IAIJobManager.JobStatus.Running) return true;
        if (t.status != IAIJobManager.JobStatus.Completed) return false;
        return block.timestamp < uint256(t.completedAt) + settlementDelay && _settlements[jobId].tallied == 0;
    }

    /// @notice How far the settlement of a job got.
    function settlementOf(bytes32 jobId) external view returns (Settlement memory) {
        return _settlements[jobId];
    }

    /// @notice The work record of a node on a job under an operator.
    function workOf(bytes32 jobId, bytes32 nodePubkey, address operator) external view returns (Work memory) {
        return _work[workKey(jobId, nodePubkey, operator)];
    }

    /// @notice Redundancy check: the most common result among `nodes` for a round, how many
    /// nodes committed it, and whether that is a strict majority of `nodes`.
    function verifyByRedundancy(bytes32 jobId, uint32 round, bytes32[] calldata nodes)
        external
        view
        returns (bytes32 majority, uint256 count, bool consensus)
    {
        mapping(bytes32 => bytes32) storage roundResults = _results[jobId][round];
        for (uint256 i = 0; i < nodes.length; ++i) {
            bytes32 r = roundResults[nodes[i]];
            if (r == bytes32(0)) continue;
            uint256 c;
            for (uint256 k = 0; k < nodes.length; ++k) {
                if (roundResults[nodes[k]] == r) ++c;
            }
            if (c > count) (majority, count) = (r, c);
        }
        consensus = count * 2 > nodes.length;
    }

    // ------------------------------------------------------------------------ internals

    /// @dev Progress and running totals of a job's settlement (see finalizeBatch).
    struct Settlement {
        uint32 tallied;
        uint32 paid;
        /// @dev Whether the accuracy bonus is paid, fixed before the first node is.
        bool bonus;
        uint256 weightedSteps;
        uint256 weightedRounds;
        uint256 weightedSamples;
        uint256 batchDemand;
        uint256 totalPaid;
    }

    function _assignedWork(bytes32 jobId, bytes32 nodePubkey) private view returns (Work storage w) {
        address operator = jobManager.assignedOperator(jobId, nodePubkey);
        if (operator == address(0)) revert PoC__NotAssigned(jobId, nodePubkey, address(0));
        w = _work[workKey(jobId, nodePubkey, operator)];
    }

    /// @dev The steps a node's committed rounds stand for, at the job's fixed terms.
    function _steps(Work storage w, IAIJobManager.JobTerms memory t) private view returns (uint256) {
        return uint256(w.rounds) * t.stepsPerRound;
    }

    /// @dev A node's batch reward before the pool's cap, at quality `qualityBps`.
    function _batchDemand(Work storage w, IAIJobManager.JobTerms memory t, uint256 qualityBps)
        private
        view
        returns (uint256)
    {
        uint256 bonus = uint256(t.samplesPerStep) * BATCH_BONUS_BPS_PER_SAMPLE;
        if (bonus > MAX_BATCH_BONUS_BPS) bonus = MAX_BATCH_BONUS_BPS;
        uint256 gpuSeconds = _steps(w, t) * t.secondsPerStep;
        return gpuSeconds * t.baseRatePerSecond * (BPS + bonus) / BPS * qualityBps / BPS;
    }

    function _share(uint256 budget, uint256 poolBps, uint256 part, uint256 whole) private pure returns (uint256) {
        return whole == 0 ? 0 : budget * poolBps / BPS * part / whole;
    }

    function _settle(
        bytes32 jobId,
        bytes32 node,
        address operator,
        IAIJobManager.JobTerms memory t,
        Settlement storage tot,
        bool bonus
    ) private returns (uint256 total) {
        Work storage w = _work[workKey(jobId, node, operator)];

        uint256 batchPool = t.budget * BATCH_POOL_BPS / BPS;
        uint256 batchReward = _batchDemand(w, t, w.qualityBps);
        // When the job under-budgeted its base rate, every node's batch reward shrinks alike.
        if (tot.batchDemand > batchPool) batchReward = batchReward * batchPool / tot.batchDemand;
        // Quality weights each share; a zero-quality node's part stays in escrow for the owner.
        uint256 stepReward = _share(t.budget, STEP_POOL_BPS, _steps(w, t) * w.qualityBps, tot.weightedSteps);
        uint256 roundReward = _share(t.budget, ROUND_POOL_BPS, uint256(w.rounds) * w.qualityBps, tot.weightedRounds);
        uint256 accuracyBonus =
            bonus ? _share(t.budget, ACCURACY_POOL_BPS, _steps(w, t) * t.samplesPerStep * w.qualityBps, tot.weightedSamples) : 0;

        total = batchReward + stepReward + roundReward + accuracyBonus;
        bool worked = w.rounds > 0 && w.qualityBps > 0;
        reputation.recordJob(node, worked);
        reputation.recordDeal(node, worked);
        if (total > 0) jobManager.credit(jobId, operator, total);
        emit RewardCredited(jobId, node, operator, batchReward, stepReward, roundReward, accuracyBonus);
    }
}

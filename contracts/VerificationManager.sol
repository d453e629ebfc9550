// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {MerkleProof} from "./libraries/MerkleProof.sol";
import {INodeCertRegistry} from "./interfaces/INodeCertRegistry.sol";
import {IAIJobManager} from "./interfaces/IAIJobManager.sol";
import {
    IPoCVerification,
    INodeCertView,
    IReputationView,
    IVerificationManager
} from "./interfaces/IVerification.sol";

/// @title VerificationManager
/// @notice Checks that committed training is real (design doc, "Verification: Ensuring Nodes
/// Actually Did Training" and "Slashing Malicious Nodes"): random challenges and gradient
/// sampling answered with Merkle openings of the committed update, redundancy settlement of task
/// groups, copycat detection, validator committees drawn by reputation, 10% spot checks, and the
/// slashing schedule with offence escalation.
/// @dev Trust model. Challenge randomness is `block.prevrandao` mixed with the previous block hash
/// and the challenged commitment, drawn when the challenge is issued, after the node committed: the
/// node cannot choose what it opens (a block proposer can bias it by withholding a block). A round's
/// spot check and committee are drawn from the hash of the block that closed the round, so nobody
/// can compute them while the round's work is still being committed, and every caller gets the same
/// draw; a round drawn more than 256 blocks after its close is spot-checked (the hash is gone, and
/// waiting must never switch a check off). An opening
/// proves the node holds the bytes it committed to (data availability) and binds them; whether
/// those bytes are the *right* update is decided by redundancy (a strict majority of the task
/// group, at least two agreeing) or by DisputeGame. Task groups (which nodes got the same task) are
/// written by an authorised coordinator at assignment: that is the one trusted statement here.
/// Redundancy settles a group's round only once the round is closed (its commits are final), and a
/// result wins only with a strict majority of the whole task group, at least two agreeing: members
/// that have not committed count against a majority, so a colluding minority can never outvote
/// the honest members that commit later.
/// Penalties: unanswered challenge 10% (FailedVerification), redundancy outlier 50%
/// (FakeGradients), copycat 100% plus deactivation (Cheating), and any penalty that brings a node
/// to 3 or more verification offences takes the rest of its stake and deactivates it (missed
/// heartbeats cost stake but are not offences). Slashed stake is burned
/// in the registry.
/// Committees. On a spot-checked round an authorised coordinator asks for a committee from the job's
/// nodes, which fixes their reputation weights; anyone then draws it from the hash of the block of
/// that request, unknown when the weights were fixed, and it is stored. Each member recomputes
/// every target of the round with the deterministic kernel and attests the result hash it got. A
/// target is decided by a strict majority of its eligible members (the committee minus the target
/// and its task group) agreeing on one hash: the committed result is then right (honest) or not
/// (fake gradients, 50%). Trust: an honest majority of a reputation-weighted random committee.
/// Honest recomputation is bit-identical, so under that assumption an honest target is never
/// slashed and honest validators are always on the deciding side. Validators on the losing side
/// only get a failed proof on reputation, never a slash, since a dishonest majority could otherwise
/// slash honest validators too. Without a strict majority by the window's end nothing happens.
contract VerificationManager is Owned, IVerificationManager {
    /// @notice Thrown when the linked contracts are missing.
    error Verification__NotLinked();
    /// @notice Thrown when the node committed nothing for the round.
    error Verification__NoCommit(bytes32 jobId, uint32 round, bytes32 nodePubkey);
    /// @notice Thrown when a sample asks for a rate outside 1-5% or too many chunks.
    error Verification__BadSample(uint256 chunkCount, uint256 sampleBps);
    /// @notice Thrown when a challenge id is unknown.
    error Verification__UnknownChallenge(uint256 challengeId);
    /// @notice Thrown when a challenge is no longer open.
    error Verification__ChallengeClosed(uint256 challengeId, uint8 status);
    /// @notice Thrown when releasing a challenge that is not answered (or already released).
    error Verification__NotAnswered(uint256 challengeId, uint8 status);
    /// @notice Thrown when anyone but the linked DisputeGame calls penaliseFor.
    error Verification__NotDisputeGame(address caller);
    /// @notice Thrown when an aggregator is penalised for a round it committed nothing in, or twice.
    error Verification__NotAggregatorOffence(bytes32 jobId, uint32 round, bytes32 nodePubkey);
    /// @notice Thrown when a response arrives after the window.
    error Verification__WindowClosed(uint256 challengeId, uint64 deadline);
    /// @notice Thrown when a timeout is claimed before the window ended.
    error Verification__WindowOpen(uint256 challengeId, uint64 deadline);
    /// @notice Thrown when the digest triple does not hash to the committed result.
    error Verification__DigestMismatch(bytes32 expected, bytes32 actual);
    /// @notice Thrown when the number of openings differs from what the challenge asked.
    error Verification__WrongCount(uint256 expected, uint256 actual);
    /// @notice Thrown when opening `position` does not verify against the gradient digest.
    error Verification__BadProof(uint256 position, uint256 chunkIndex);
    /// @notice Thrown when the openings of one response have different depths.
    error Verification__DepthMismatch(uint256 position);
    /// @notice Thrown when task group arrays differ in length or a group is zero.
    error Verification__BadGroups();
    /// @notice Thrown when a node is already in a task group of the job.
    error Verification__AlreadyGrouped(bytes32 jobId, bytes32 nodePubkey);
    /// @notice Thrown when a task group has too many members.
    error Verification__GroupTooLarge(uint32 group, uint256 size);
    /// @notice Thrown when a replacement does not follow a reassignment: `fromNode` still holds its
    /// task, `toNode` holds none, or `fromNode` was already replaced.
    error Verification__NotReplacement(bytes32 jobId, bytes32 fromNode, bytes32 toNode);
    /// @notice Thrown when a group was already settled for a round.
    error Verification__AlreadySettled(bytes32 jobId, uint32 round, uint32 group);
    /// @notice Thrown when a group has no strict majority (nothing can be decided).
    error Verification__NoConsensus(bytes32 jobId, uint32 round, uint32 group);
    /// @notice Thrown when a copycat report does not hold.
    error Verification__NotCopycat(bytes32 copier, bytes32 original);
    /// @notice Thrown when a committee size is outside 10-20.
    error Verification__BadCommitteeSize(uint256 size);
    /// @notice Thrown when a spot check was already drawn for a round.
    error Verification__AlreadyDrawn(bytes32 jobId, uint32 round);
    /// @notice Thrown when a configuration value is out of range.
    error Verification__InvalidConfig(uint256 value);
    /// @notice Thrown when a round was not selected for a spot check.
    error Verification__NotSpotChecked(bytes32 jobId, uint32 round);
    /// @notice Thrown when a round has no drawn committee.
    error Verification__NoCommittee(bytes32 jobId, uint32 round);
    /// @notice Thrown when a node is not in the round's committee.
    error Verification__NotInCommittee(bytes32 jobId, uint32 round, bytes32 validatorNode);
    /// @notice Thrown when the caller is not the validator node's operator.
    error Verification__NotOperator(bytes32 validatorNode, address caller);
    /// @notice Thrown when a validator would attest itself or a member of its own task group.
    error Verification__NotValidatorOf(bytes32 validatorNode, bytes32 targetNode);
    /// @notice Thrown when a validator already attested a target.
    error Verification__AlreadyAttested(bytes32 validatorNode, bytes32 targetNode);
    /// @notice Thrown when an attested result hash is zero.
    error Verification__ZeroResult();
    /// @notice Thrown when an attestation arrives after the committee's window.
    error Verification__AttestationClosed(bytes32 jobId, uint32 round, uint64 deadline);
    /// @notice Thrown when attestations are settled before a majority or the window's end.
    error Verification__AttestationOpen(bytes32 jobId, uint32 round, uint64 deadline);
    /// @notice Thrown when a step challenge is answered with chunk openings.
    error Verification__StepChallenge(uint256 challengeId);
    /// @notice Thrown when a chunk challenge is answered with a step opening.
    error Verification__NotStepChallenge(uint256 challengeId);
    /// @notice Thrown when a step record is not STEP_RECORD_BYTES long.
    error Verification__BadStepRecord(uint256 length);
    /// @notice Thrown when a target's attestations were already settled.
    error Verification__AttestationsSettled(bytes32 jobId, uint32 round, bytes32 targetNode);
    /// @notice Thrown when a round still takes commits (settling or drawing over it would judge an
    /// incomplete set).
    error Verification__RoundOpen(bytes32 jobId, uint32 round);
    /// @notice Thrown when a challenged round is more than CHALLENGE_ROUNDS behind the open one.
    error Verification__RoundTooOld(bytes32 jobId, uint32 round, uint32 openRound);
    /// @notice Thrown when a commit already had MAX_CHALLENGES_PER_COMMIT challenges.
    error Verification__ChallengeLimit(bytes32 jobId, uint32 round, bytes32 nodePubkey);
    /// @notice Thrown when a draw is asked in the block that closed the round, or that asked for
    /// the committee (its hash is unknown).
    error Verification__TooEarly(bytes32 jobId, uint32 round, uint256 seedBlock);
    /// @notice Thrown when a committee is drawn that was not asked for.
    error Verification__NotRequested(bytes32 jobId, uint32 round);
    /// @notice Thrown when a draw names other candidates, weights or size than its request fixed.
    error Verification__RequestMismatch(bytes32 jobId, uint32 round);

    /// @notice Emitted when a challenge or gradient sample is issued.
    event ChallengeIssued(
        uint256 indexed challengeId,
        bytes32 indexed jobId,
        bytes32 indexed nodePubkey,
        uint32 round,
        uint32 step,
        uint16 count,
        bytes32 seed,
        uint64 deadline
    );
    /// @notice Emitted when a node opens the record of a challenged step (f32 loss, keccak256 of the
    /// weights after the step, keccak256 of its gradient), so validators can recompute that step.
    event StepRevealed(uint256 indexed challengeId, uint32 step, bytes record);
    /// @notice Emitted for every chunk a node opens, so validators can recompute and compare it.
    event ChunkRevealed(uint256 indexed challengeId, uint256 chunkIndex, bytes chunk);
    /// @notice Emitted when a challenge is answered in time with valid openings.
    event ChallengeAnswered(uint256 indexed challengeId, bytes32 indexed nodePubkey);
    /// @notice Emitted when a challenge window passed without a valid answer.
    event ChallengeFailed(uint256 indexed challengeId, bytes32 indexed nodePubkey);
    /// @notice Emitted when the validator rejects an answered challenge (its recomputation
    /// contradicts the node's records): told apart from a timeout, which costs 10%, not 50%.
    event ChallengeRejected(uint256 indexed challengeId, bytes32 indexed nodePubkey);
    /// @notice Emitted when an answered challenge stops holding its job's settlement.
    event ChallengeReleased(uint256 indexed challengeId, bytes32 indexed nodePubkey);
    /// @notice Emitted when a node is put in a task group.
    event TaskGroupSet(bytes32 indexed jobId, bytes32 indexed nodePubkey, uint32 group);
    /// @notice Emitted when a reassigned task's new node takes its predecessor's place in a group.
    event TaskGroupMemberReplaced(
        bytes32 indexed jobId, uint32 group, bytes32 fromNode, bytes32 toNode, uint32 fromRound
    );
    /// @notice Emitted when a task group's round is settled by redundancy.
    event RedundancySettled(
        bytes32 indexed jobId, uint32 round, uint32 group, bytes32 majority, uint256 agreeing, uint256 outliers
    );
    /// @notice Emitted for every penalty, after escalation.
    event Penalised(
        bytes32 indexed jobId, bytes32 indexed nodePubkey, uint256 slashBps, INodeCertRegistry.SlashReason reason
    );
    /// @notice Emitted when a spot check is drawn for a round.
    event SpotCheckDrawn(bytes32 indexed jobId, uint32 round, bool selected, bytes32 seed);
    /// @notice Emitted when a committee is asked for: the candidates' weights are fixed from here.
    event CommitteeRequested(
        bytes32 indexed jobId, uint32 round, bytes32[] candidates, uint256[] weights, uint256 size
    );
    /// @notice Emitted when a committee is drawn for a round.
    event CommitteeDrawn(bytes32 indexed jobId, uint32 round, bytes32 seed, bytes32[] members);
    /// @notice Emitted when a committee member attests its recomputed result of a target.
    event Attested(
        bytes32 indexed jobId,
        uint32 round,
        bytes32 indexed validatorNode,
        bytes32 indexed targetNode,
        bytes32 recomputedResultHash
    );
    /// @notice Emitted when a target's attestations are settled.
    event AttestationsSettled(
        bytes32 indexed jobId,
        uint32 round,
        bytes32 indexed targetNode,
        Outcome outcome,
        bytes32 majority,
        uint256 agreeing,
        uint256 eligible
    );
    /// @notice Emitted when the share of spot-checked rounds changes.
    event SpotCheckBpsSet(uint256 bps);
    /// @notice Emitted when the response window changes.
    event ResponseWindowSet(uint64 window);
    /// @notice Emitted when the linked contracts are set.
    event LinksSet(address proofs, address registry, address reputation, address disputes);
    /// @notice Emitted when a cluster aggregator is penalised for a round's aggregate.
    event AggregatorPenalised(bytes32 indexed jobId, uint32 round, bytes32 indexed nodePubkey);

    /// @notice Status of a challenge.
    enum Status {
        None,
        Open,
        Answered,
        Failed,
        Released
    }

    /// @notice The rounds a task group member counts in (see `_tenure`).
    struct Tenure {
        uint32 joined;
        uint32 leftPlusOne;
    }

    /// @notice A committee asked for and its seed block: the digest of (candidates, weights, size).
    struct CommitteeRequest {
        bytes32 digest;
        uint64 blockNumber;
    }

    /// @notice How a committee settled a target: right result, fake, or no strict majority.
    enum Outcome {
        None,
        Honest,
        Faked,
        Undecided
    }

    /// @notice One challenge (count 1) or gradient sample (count > 1).
    struct Challenge {
        bytes32 jobId;
        bytes32 nodePubkey;
        bytes32 seed;
        uint32 round;
        uint32 step;
        uint16 count;
        /// @dev While open, the end of the answer window; once answered, of the validation window.
        uint64 deadline;
        Status status;
    }

    uint256 public constant BPS = 10_000;
    /// @notice Design doc, "Slashing Malicious Nodes": failed verification 10%, fake gradients 50%, cheating 100%.
    uint256 public constant FAILED_VERIFICATION_BPS = 1_000;
    uint256 public constant FAKE_GRADIENTS_BPS = 5_000;
    uint256 public constant CHEATING_BPS = 10_000;
    /// @notice At this many offences (or more) a node loses all its stake and is deactivated.
    uint256 public constant OFFENCE_LIMIT = 3;
    /// @notice Gradient sampling asks for 1-5% of the chunks, at most this many at once (an
    /// answer of 16 chunks of 4 KiB and their proofs fits the 128 KiB a transaction may have).
    uint256 public constant MIN_SAMPLE_BPS = 100;
    uint256 public constant MAX_SAMPLE_BPS = 500;
    uint256 public constant MAX_SAMPLE_CHUNKS = 16;
    /// @notice How many rounds behind the open one a commit can still be challenged: what a node
    /// must keep to answer (a verifier reaching further back asked for bytes no honest node was
    /// told to keep, and the node lost 10% at the timeout).
    uint256 public constant CHALLENGE_ROUNDS = 16;
    /// @dev Challenges one commit may get: a chunk, a step and a gradient sample. Each costs the
    /// node an answer's gas, and leaving one unanswered costs it 10% of its stake, so without a
    /// bound a verifier could issue them until the node's balance was gone.
    uint256 private constant MAX_CHALLENGES_PER_COMMIT = 3;
    /// @dev A step record: f32 loss (4 bytes), keccak256 of the weights after the step, of its
    /// gradient (lib/local_training.ts stepRecord).
    uint256 public constant STEP_RECORD_BYTES = 68;
    /// @notice Default share of rounds that get a full spot check (10%).
    uint256 public constant SPOT_CHECK_BPS = 1_000;
    /// @notice How many blocks back a block hash stays readable (EVM BLOCKHASH window).
    uint256 public constant BLOCKHASH_WINDOW = 256;
    /// @notice Committee sizes (design doc: 10-20 validators).
    uint256 public constant MIN_COMMITTEE = 10;
    uint256 public constant MAX_COMMITTEE = 20;
    /// @notice A committee decides a target only with at least this many eligible members, the
    /// fewest of which one member is not a majority: drawn from a small job's few candidates, a
    /// committee could be two nodes, and one member's attestation slashed the other (attacks 30).
    uint256 public constant MIN_ATTESTERS = 3;
    /// @notice At most this many nodes share one task (AIJobManager.MAX_REDUNDANCY).
    uint256 public constant MAX_GROUP = 10;

    IPoCVerification public proofs;
    INodeCertView public registry;
    IReputationView public reputation;
    /// @notice The dispute game, the only caller of penaliseFor.
    address public disputes;
    /// @notice Share of rounds spot-checked, in basis points (owner-set, default 10%).
    uint256 public spotCheckBps = SPOT_CHECK_BPS;
    /// @notice Seconds a node has to answer a challenge (and a committee has to attest).
    uint64 public responseWindow = 1 hours;
    uint256 public challengeCount;

    mapping(uint256 challengeId => Challenge challenge) private _challenges;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 node => uint256 issued))) private _issued;
    mapping(bytes32 jobId => mapping(bytes32 nodePubkey => uint32 group)) private _groupOf;
    /// @dev The rounds a member of a group that had a replacement counts in: from `joined`, until
    /// `leftPlusOne - 1` (excluded; 0: never left). Groups without one count every member.
    mapping(bytes32 jobId => mapping(bytes32 nodePubkey => Tenure tenure)) private _tenure;
    mapping(bytes32 jobId => mapping(uint32 group => bool replaced)) private _hasReplacement;
    mapping(bytes32 jobId => mapping(uint32 group => bytes32[] members)) private _members;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(uint32 group => bytes32 majority))) private
        _settled;
    mapping(bytes32 jobId => mapping(uint32 round => uint256 drawn)) private _spotChecks;
    mapping(bytes32 jobId => mapping(uint32 round => bytes32 seed)) private _roundSeeds;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 node => bool caught))) private _copycats;
    mapping(bytes32 jobId => mapping(uint32 round => bytes32[] members)) private _committees;
    mapping(bytes32 jobId => mapping(uint32 round => uint64 deadline)) private _attestDeadline;
    /// @dev A round's committee request: what it fixed (candidates, weights, size) and its block.
    mapping(bytes32 jobId => mapping(uint32 round => CommitteeRequest request)) private _committeeRequests;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 node => bool member))) private _inCommittee;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 target => mapping(bytes32 validator => bytes32))))
        private _attestations;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 target => Outcome outcome))) private _outcomes;
    /// @dev Targets attested at least once and not yet settled: each holds the job's settlement.
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 target => bool attested))) private _pending;
    mapping(bytes32 jobId => mapping(uint32 round => mapping(bytes32 node => bool penalised))) private
        _aggregatorPenalised;

    /// @notice Links ProofOfCompute, NodeCertRegistry, ReputationRegistry and DisputeGame, once.
    /// Owner only.
    function setLinks(address proofs_, address registry_, address reputation_, address disputes_)
        external
        onlyOwner
    {
        if (address(proofs) != address(0)) revert Owned__AlreadyLinked();
        if (proofs_ == address(0) || registry_ == address(0) || reputation_ == address(0) || disputes_ == address(0)) {
            revert Owned__ZeroAddress();
        }
        proofs = IPoCVerification(proofs_);
        registry = INodeCertView(registry_);
        reputation = IReputationView(reputation_);
        disputes = disputes_;
        emit LinksSet(proofs_, registry_, reputation_, disputes_);
    }

    /// @notice Sets the challenge response window in seconds (1 minute to 7 days). Owner only.
    function setResponseWindow(uint64 window) external onlyOwner {
        if (window < 1 minutes || window > 7 days) revert Verification__InvalidConfig(window);
        responseWindow = window;
        emit ResponseWindowSet(window);
    }

    /// @notice Sets the share of rounds spot-checked, 0 to 10,000 basis points. Owner only.
    function setSpotCheckBps(uint256 bps) external onlyOwner {
        if (bps > BPS) revert Verification__InvalidConfig(bps);
        spotCheckBps = bps;
        emit SpotCheckBpsSet(bps);
    }

    // ------------------------------------------------------------------- challenges

    /// @notice Challenges one committed round: the chain picks a step and a chunk of the update
    /// the node must open within the response window. Authorised verifiers only (a challenge
    /// costs the node gas, so it is not open to anyone). The round may be at most
    /// CHALLENGE_ROUNDS behind the open one (also for step challenges and gradient samples).
    /// @param jobId The job.
    /// @param round The committed round.
    /// @param nodePubkey The node.
    /// @return challengeId The new challenge.
    function issueChallenge(bytes32 jobId, uint32 round, bytes32 nodePubkey)
        external
        onlyAuthorised
        returns (uint256 challengeId)
    {
        return _issue(jobId, round, nodePubkey, 1);
    }

    /// @notice Challenges one step of a committed round, drawn from on-chain randomness: the node
    /// must open that step's record (loss, weights hash, gradient hash) with a Merkle proof
    /// against its committed lossDigest (the root of its per-step records); a validator then
    /// recomputes the step from the round's checkpoint. Authorised verifiers only.
    /// @param jobId The job.
    /// @param round The committed round.
    /// @param nodePubkey The node.
    /// @return challengeId The new challenge (count 0 marks a step challenge).
    function issueStepChallenge(bytes32 jobId, uint32 round, bytes32 nodePubkey)
        external
        onlyAuthorised
        returns (uint256 challengeId)
    {
        return _issue(jobId, round, nodePubkey, 0);
    }

    /// @notice Answers a step challenge: the commit's digest triple and the challenged step's
    /// record with its Merkle proof against lossDigest, both checked here.
    /// @param challengeId The step challenge.
    /// @param lossDigest Committed loss digest (root of the step records).
    /// @param gradientDigest Committed gradient digest.
    /// @param weightsDigest Committed weights digest.
    /// @param record The step's STEP_RECORD_BYTES record.
    /// @param proof Sibling hashes from the record's leaf up to lossDigest.
    function respondStep(
        uint256 challengeId,
        bytes32 lossDigest,
        bytes32 gradientDigest,
        bytes32 weightsDigest,
        bytes calldata record,
        bytes32[] calldata proof
    ) external {
        Challenge storage c = _open(challengeId);
        if (c.count != 0) revert Verification__NotStepChallenge(challengeId);
        if (block.timestamp > c.deadline) revert Verification__WindowClosed(challengeId, c.deadline);
        bytes32 committed = proofs.resultOf(c.jobId, c.round, c.nodePubkey);
        bytes32 given = keccak256(abi.encode(lossDigest, gradientDigest, weightsDigest));
        if (given != committed) revert Verification__DigestMismatch(committed, given);
        if (record.length != STEP_RECORD_BYTES) revert Verification__BadStepRecord(record.length);
        if (!MerkleProof.verify(lossDigest, MerkleProof.leafOf(record), c.step, proof)) {
            revert Verification__BadProof(0, c.step);
        }
        emit StepRevealed(challengeId, c.step, record);
        _answered(challengeId, c);
    }

    /// @notice Requests 1-5% of the chunks of a committed update (at least one, at most
    /// MAX_SAMPLE_CHUNKS) at indices drawn on chain. Authorised verifiers only.
    /// @param jobId The job.
    /// @param round The committed round.
    /// @param nodePubkey The node.
    /// @param chunkCount Chunks of the update (public: its size over 4096 bytes).
    /// @param sampleBps Share of chunks, 100 to 500.
    /// @return challengeId The new challenge.
    function requestGradientSample(
        bytes32 jobId,
        uint32 round,
        bytes32 nodePubkey,
        uint256 chunkCount,
        uint256 sampleBps
    ) external onlyAuthorised returns (uint256 challengeId) {
        if (sampleBps < MIN_SAMPLE_BPS || sampleBps > MAX_SAMPLE_BPS || chunkCount == 0) {
            revert Verification__BadSample(chunkCount, sampleBps);
        }
        uint256 count = (chunkCount * sampleBps + BPS - 1) / BPS;
        // The answer goes in one transaction: past 16 chunks of 4 KiB with their proofs it would
        // pass the 128 KiB nodes relay, and the honest node be slashed for an unsendable answer.
        if (count > MAX_SAMPLE_CHUNKS) count = MAX_SAMPLE_CHUNKS;
        return _issue(jobId, round, nodePubkey, uint16(count));
    }

    /// @notice Answers a challenge: the digest triple of the commit and, for each drawn index,
    /// the chunk and its Merkle proof against the gradient digest. An empty chunk opens a padding
    /// leaf (bytes32(0)). Anyone may submit it; the openings are what count.
    /// @param challengeId The challenge.
    /// @param lossDigest Committed loss digest.
    /// @param gradientDigest Committed gradient digest (Merkle root of the update).
    /// @param weightsDigest Committed weights digest.
    /// @param chunks The chunks at `chunkIndices(challengeId, depth)`.
    /// @param proofsOf One proof per chunk, all of the tree's depth.
    function respond(
        uint256 challengeId,
        bytes32 lossDigest,
        bytes32 gradientDigest,
        bytes32 weightsDigest,
        bytes[] calldata chunks,
        bytes32[][] calldata proofsOf
    ) external {
        Challenge storage c = _open(challengeId);
        if (c.count == 0) revert Verification__StepChallenge(challengeId);
        if (block.timestamp > c.deadline) revert Verification__WindowClosed(challengeId, c.deadline);
        bytes32 committed = proofs.resultOf(c.jobId, c.round, c.nodePubkey);
        bytes32 given = keccak256(abi.encode(lossDigest, gradientDigest, weightsDigest));
        if (given != committed) revert Verification__DigestMismatch(committed, given);
        if (chunks.length != c.count || proofsOf.length != c.count) {
            revert Verification__WrongCount(c.count, chunks.length);
        }
        uint256 depth = proofsOf[0].length;
        for (uint256 j = 0; j < chunks.length; ++j) {
            if (proofsOf[j].length != depth) revert Verification__DepthMismatch(j);
            uint256 index = chunkIndex(c.seed, j, depth);
            bytes32 leaf = chunks[j].length == 0 ? bytes32(0) : MerkleProof.leafOf(chunks[j]);
            if (!MerkleProof.verify(gradientDigest, leaf, index, proofsOf[j])) {
                revert Verification__BadProof(j, index);
            }
            emit ChunkRevealed(challengeId, index, chunks[j]);
        }
        _answered(challengeId, c);
    }

    /// @notice After the window, an unanswered challenge slashes the node 10% (failed
    /// verification). Anyone may call it.
    /// @param challengeId The challenge.
    function timeout(uint256 challengeId) external {
        Challenge storage c = _open(challengeId);
        if (block.timestamp <= c.deadline) revert Verification__WindowOpen(challengeId, c.deadline);
        c.status = Status.Failed;
        emit ChallengeFailed(challengeId, c.nodePubkey);
        proofs.closeCase(c.jobId);
        _penalise(c.jobId, c.nodePubkey, FAILED_VERIFICATION_BPS, INodeCertRegistry.SlashReason.FailedVerification, false);
    }

    /// @notice Ends an answered challenge's hold on its job's settlement. The openings only show
    /// the answer matches the commit; whether the work was honest is the validator's
    /// recomputation, which may still penalise the node (penaliseFor) and must come before the
    /// job pays. So an authorised validator releases it once it has checked, and anyone may once
    /// the validation window (`responseWindow` after the answer) has passed.
    /// @param challengeId The answered challenge.
    function release(uint256 challengeId) external {
        Challenge storage c = _challenges[challengeId];
        if (c.status != Status.Answered) revert Verification__NotAnswered(challengeId, uint8(c.status));
        if (!isAuthorised(msg.sender) && block.timestamp <= c.deadline) {
            revert Verification__WindowOpen(challengeId, c.deadline);
        }
        c.status = Status.Released;
        emit ChallengeReleased(challengeId, c.nodePubkey);
        proofs.closeCase(c.jobId);
    }

    // ------------------------------------------------------------------- redundancy

    /// @notice Records which nodes received the same task (same shard, seed and starting weights).
    /// Authorised coordinator only, at assignment and reassignment; groups start at 1.
    /// @param jobId The job.
    /// @param nodes The nodes.
    /// @param groups Their task group, one per node.
    function setTaskGroups(bytes32 jobId, bytes32[] calldata nodes, uint32[] calldata groups) external onlyAuthorised {
        if (nodes.length != groups.length) revert Verification__BadGroups();
        for (uint256 i = 0; i < nodes.length; ++i) {
            uint32 g = groups[i];
            if (g == 0) revert Verification__BadGroups();
            if (_groupOf[jobId][nodes[i]] != 0) revert Verification__AlreadyGrouped(jobId, nodes[i]);
            bytes32[] storage m = _members[jobId][g];
            if (m.length >= MAX_GROUP) revert Verification__GroupTooLarge(g, m.length + 1);
            _groupOf[jobId][nodes[i]] = g;
            m.push(nodes[i]);
            emit TaskGroupSet(jobId, nodes[i], g);
        }
    }

    /// @notice Puts the node a task was reassigned to (AIJobManager.reassign) into its
    /// predecessor's task group, in its place: from the open round on, the new node counts in the
    /// group's majority and is judged by it, and the predecessor no longer counts (a commit it made
    /// before it was moved is still judged against the majority). Left out, a replacement was
    /// judged by no group (its fake commits were never slashed by redundancy, nor could it be
    /// disputed), while its silent predecessor still counted against every majority. Authorised
    /// coordinator only, once per predecessor.
    /// @param jobId The job.
    /// @param fromNode The node the task was moved from (no longer assigned).
    /// @param toNode The node it was moved to (assigned, in no group yet).
    function replaceInGroup(bytes32 jobId, bytes32 fromNode, bytes32 toNode) external onlyAuthorised {
        uint32 g = _groupOf[jobId][fromNode];
        if (g == 0) revert Verification__BadGroups();
        if (_groupOf[jobId][toNode] != 0) revert Verification__AlreadyGrouped(jobId, toNode);
        IAIJobManager jm = proofs.jobManager();
        if (
            _tenure[jobId][fromNode].leftPlusOne != 0 || jm.isAssigned(jobId, fromNode)
                || !jm.isAssigned(jobId, toNode)
        ) revert Verification__NotReplacement(jobId, fromNode, toNode);
        bytes32[] storage m = _members[jobId][g];
        // Replacements may take a group past MAX_GROUP, but only so far: the majority's loops.
        if (m.length >= 2 * MAX_GROUP) revert Verification__GroupTooLarge(g, m.length + 1);
        uint32 open = proofs.openRoundOf(jobId);
        // One vote per place: the predecessor stops counting in the round the replacement starts
        // in, even if it committed that round before it was moved (counted too, a silent pair of
        // attackers and their colluding spares outvoted the honest members). A commit it made
        // there is still judged: settlement checks every member's commit against the majority.
        _tenure[jobId][fromNode].leftPlusOne = open + 1;
        _tenure[jobId][toNode] = Tenure({joined: open, leftPlusOne: 0});
        _hasReplacement[jobId][g] = true;
        _groupOf[jobId][toNode] = g;
        m.push(toNode);
        emit TaskGroupSet(jobId, toNode, g);
        emit TaskGroupMemberReplaced(jobId, g, fromNode, toNode, open);
    }

    /// @notice Settles one task group's round by redundancy, once the round is closed: a result
    /// committed by a strict majority of the whole group (at least two) is right; every member that
    /// committed something else is slashed 50% (fake gradients); agreeing members get a passed
    /// proof. Members that committed nothing count against the majority and are left to challenges
    /// and reassignment. In the round an abandoned job left open, the agreeing members' commits are
    /// confirmed to ProofOfCompute: only those are paid. Anyone may call it, once per group and
    /// round.
    /// @param jobId The job.
    /// @param round The round.
    /// @param group The task group.
    function settleRedundancy(bytes32 jobId, uint32 round, uint32 group) external {
        if (_settled[jobId][round][group] != bytes32(0)) revert Verification__AlreadySettled(jobId, round, group);
        if (round >= proofs.openRoundOf(jobId)) revert Verification__RoundOpen(jobId, round);
        (bytes32 majority, uint256 count,, bool consensus) = groupMajority(jobId, round, group);
        if (!consensus) revert Verification__NoConsensus(jobId, round, group);
        _settled[jobId][round][group] = majority;
        bytes32[] storage m = _members[jobId][group];
        uint256 outliers;
        for (uint256 i = 0; i < m.length; ++i) {
            bytes32 r = proofs.resultOf(jobId, round, m[i]);
            if (r == bytes32(0)) continue;
            if (r == majority) {
                // A passed proof; and the round an abandoned job left open is paid only where a
                // majority confirms it.
                proofs.confirmCommit(jobId, round, m[i]);
            } else {
                ++outliers;
                _penalise(jobId, m[i], FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients, false);
            }
        }
        emit RedundancySettled(jobId, round, group, majority, count, outliers);
    }

    /// @notice Reports a copycat: `copier` committed exactly the result of `original`, a node of
    /// another task group, and its own group's settled majority disagrees with it. Costs the
    /// copier all its stake and deactivates it (cheating). Anyone may call it.
    /// @param jobId The job.
    /// @param round The round.
    /// @param copier The node that copied.
    /// @param original The node it copied from.
    function reportCopycat(bytes32 jobId, uint32 round, bytes32 copier, bytes32 original) external {
        uint32 gc = _groupOf[jobId][copier];
        uint32 go = _groupOf[jobId][original];
        bytes32 r = proofs.resultOf(jobId, round, copier);
        bytes32 settled = _settled[jobId][round][gc];
        if (
            gc == 0 || go == 0 || gc == go || r == bytes32(0) || r != proofs.resultOf(jobId, round, original)
                || settled == bytes32(0) || settled == r || _copycats[jobId][round][copier]
        ) revert Verification__NotCopycat(copier, original);
        _copycats[jobId][round][copier] = true;
        _penalise(jobId, copier, CHEATING_BPS, INodeCertRegistry.SlashReason.Cheating, true);
    }

    /// @inheritdoc IVerificationManager
    /// @dev The dispute game only: its verdicts rest on openings checked on chain. A coordinator
    /// calling it could zero any node's pay on any job, and stack offences at 0 bps to take its
    /// whole stake, with no evidence at all.
    function penaliseFor(
        bytes32 jobId,
        bytes32 nodePubkey,
        uint256 slashBps,
        INodeCertRegistry.SlashReason reason,
        bool deactivate
    ) external {
        if (msg.sender != disputes) revert Verification__NotDisputeGame(msg.sender);
        _penalise(jobId, nodePubkey, slashBps, reason, deactivate);
    }

    /// @notice The validator's verdict on an answered challenge: its openings match the commit
    /// but not the validator's recomputation of the round, so the node faked its gradients (50%
    /// of its stake, no pay on the job). One verdict per challenge, only while it is answered
    /// and not released. Authorised verifiers only.
    /// @param challengeId The answered challenge.
    function rejectAnswer(uint256 challengeId) external onlyAuthorised {
        Challenge storage c = _challenges[challengeId];
        if (c.status != Status.Answered) revert Verification__NotAnswered(challengeId, uint8(c.status));
        c.status = Status.Failed;
        emit ChallengeRejected(challengeId, c.nodePubkey);
        proofs.closeCase(c.jobId);
        _penalise(c.jobId, c.nodePubkey, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients, false);
    }

    /// @notice Penalises a cluster aggregator whose submitted mean of `round` the coordinator's
    /// recomputation contradicts (50% of its stake, no pay on the job): once per round, and only
    /// a node that committed work in that round of the job. Authorised verifiers only.
    /// @param jobId The job.
    /// @param round The round the aggregate was for.
    /// @param nodePubkey The aggregator.
    function penaliseAggregator(bytes32 jobId, uint32 round, bytes32 nodePubkey) external onlyAuthorised {
        if (proofs.resultOf(jobId, round, nodePubkey) == bytes32(0) || _aggregatorPenalised[jobId][round][nodePubkey]) {
            revert Verification__NotAggregatorOffence(jobId, round, nodePubkey);
        }
        _aggregatorPenalised[jobId][round][nodePubkey] = true;
        emit AggregatorPenalised(jobId, round, nodePubkey);
        _penalise(jobId, nodePubkey, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients, false);
    }

    // --------------------------------------------------------- spot checks, committees

    /// @notice Draws whether a round gets a full spot check (10% of rounds), once per round, from
    /// the hash of the block that closed the round. Anyone may call it after that block; every
    /// caller gets the same draw, and a draw later than 256 blocks selects the round.
    /// @param jobId The job.
    /// @param round The closed round.
    /// @return selected Whether the round is spot-checked.
    function drawSpotCheck(bytes32 jobId, uint32 round) external returns (bool selected) {
        if (_spotChecks[jobId][round] != 0) revert Verification__AlreadyDrawn(jobId, round);
        uint256 closed = proofs.closedBlockOf(jobId, round);
        if (closed == 0) revert Verification__RoundOpen(jobId, round);
        if (block.number <= closed) revert Verification__TooEarly(jobId, round, closed);
        bytes32 anchor = blockhash(closed);
        bytes32 seed = keccak256(abi.encode("spot", anchor, jobId, round));
        // The hash is gone after 256 blocks: select the round, so that delaying a draw can only
        // add checks, never remove one.
        selected = anchor == bytes32(0) || uint256(seed) % BPS < spotCheckBps;
        _roundSeeds[jobId][round] = seed;
        _spotChecks[jobId][round] = selected ? 2 : 1;
        emit SpotCheckDrawn(jobId, round, selected, seed);
    }

    /// @notice Whether a round was drawn (`drawn`) and selected for a spot check.
    function spotCheckOf(bytes32 jobId, uint32 round) external view returns (bool drawn, bool selected) {
        uint256 s = _spotChecks[jobId][round];
        return (s != 0, s == 2);
    }

    /// @notice Asks for a validator committee for a spot-checked round and fixes its candidates'
    /// draw weights (`committeeWeights`, read now). Once per round. Authorised coordinator only:
    /// the candidates (the job's nodes) are its statement, like task groups. Who among them serves
    /// is drawn later by `drawCommittee` from this block's hash, unknown while the weights could
    /// still move: drawn from the round's seed with weights read at the draw, anyone who moved a
    /// score in between (a permissionless group settlement, a timed challenge answer) re-rolled it.
    /// @param jobId The job.
    /// @param round The round.
    /// @param candidates The job's nodes to draw from (those without a commit in the round weigh 0).
    /// @param size Wanted size, 10 to 20 (fewer members when fewer candidates are eligible).
    /// @return weights Each candidate's fixed weight, as `drawCommittee` must repeat them.
    function requestCommittee(bytes32 jobId, uint32 round, bytes32[] calldata candidates, uint256 size)
        external
        onlyAuthorised
        returns (uint256[] memory weights)
    {
        if (_committeeRequests[jobId][round].blockNumber != 0) revert Verification__AlreadyDrawn(jobId, round);
        if (_spotChecks[jobId][round] != 2) revert Verification__NotSpotChecked(jobId, round);
        if (size < MIN_COMMITTEE || size > MAX_COMMITTEE) revert Verification__BadCommitteeSize(size);
        weights = committeeWeights(jobId, round, candidates);
        _committeeRequests[jobId][round] =
            CommitteeRequest(keccak256(abi.encode(candidates, weights, size)), uint64(block.number));
        emit CommitteeRequested(jobId, round, candidates, weights, size);
    }

    /// @notice Draws the committee a request fixed, from the round's seed and the hash of the
    /// request's block, stores it with an attestation window of `responseWindow`, and publishes
    /// it. Anyone may call it once the request's block has ended, with the request's candidates,
    /// weights and size (its `CommitteeRequested` event). Drawn more than 256 blocks after the
    /// request, the block's hash is gone and the draw falls back to the round's seed alone.
    /// @param jobId The job.
    /// @param round The round.
    /// @param candidates The request's candidates.
    /// @param weights The request's weights.
    /// @param size The request's size.
    /// @return members The committee.
    function drawCommittee(
        bytes32 jobId,
        uint32 round,
        bytes32[] calldata candidates,
        uint256[] calldata weights,
        uint256 size
    ) external returns (bytes32[] memory members) {
        CommitteeRequest storage q = _committeeRequests[jobId][round];
        uint256 requested = q.blockNumber;
        if (requested == 0) revert Verification__NotRequested(jobId, round);
        if (_attestDeadline[jobId][round] != 0) revert Verification__AlreadyDrawn(jobId, round);
        if (block.number <= requested) revert Verification__TooEarly(jobId, round, requested);
        if (keccak256(abi.encode(candidates, weights, size)) != q.digest) {
            revert Verification__RequestMismatch(jobId, round);
        }
        bytes32 seed = keccak256(abi.encode("committee", _roundSeeds[jobId][round], blockhash(requested)));
        members = pickCommittee(seed, candidates, weights, size);
        _committees[jobId][round] = members;
        _attestDeadline[jobId][round] = uint64(block.timestamp) + responseWindow;
        for (uint256 i = 0; i < members.length; ++i) {
            _inCommittee[jobId][round][members[i]] = true;
        }
        emit CommitteeDrawn(jobId, round, seed, members);
    }

    /// @notice A committee member attests the result hash it got by recomputing `targetNode`'s
    /// round from the round's starting checkpoint. The round must be spot-checked, the validator
    /// in its committee and outside the target's task group, the caller its operator; once per
    /// (validator, target), within the attestation window.
    /// @param jobId The job.
    /// @param round The round.
    /// @param validatorNode The attesting committee member.
    /// @param targetNode The node whose round was recomputed.
    /// @param recomputedResultHash keccak256(abi.encode(loss, gradient, weights digests)) recomputed.
    function attest(
        bytes32 jobId,
        uint32 round,
        bytes32 validatorNode,
        bytes32 targetNode,
        bytes32 recomputedResultHash
    ) external {
        if (_spotChecks[jobId][round] != 2) revert Verification__NotSpotChecked(jobId, round);
        uint64 deadline = _attestDeadline[jobId][round];
        if (deadline == 0) revert Verification__NoCommittee(jobId, round);
        if (block.timestamp > deadline) revert Verification__AttestationClosed(jobId, round, deadline);
        if (!_inCommittee[jobId][round][validatorNode]) {
            revert Verification__NotInCommittee(jobId, round, validatorNode);
        }
        if (registry.operatorOf(validatorNode) != msg.sender) {
            revert Verification__NotOperator(validatorNode, msg.sender);
        }
        if (!_eligible(jobId, validatorNode, targetNode)) {
            revert Verification__NotValidatorOf(validatorNode, targetNode);
        }
        if (recomputedResultHash == bytes32(0)) revert Verification__ZeroResult();
        if (proofs.resultOf(jobId, round, targetNode) == bytes32(0)) {
            revert Verification__NoCommit(jobId, round, targetNode);
        }
        if (_outcomes[jobId][round][targetNode] != Outcome.None) {
            revert Verification__AttestationsSettled(jobId, round, targetNode);
        }
        mapping(bytes32 => bytes32) storage given = _attestations[jobId][round][targetNode];
        if (given[validatorNode] != bytes32(0)) revert Verification__AlreadyAttested(validatorNode, targetNode);
        given[validatorNode] = recomputedResultHash;
        // A target with attestations may be settled as faked: settlement waits for that.
        if (!_pending[jobId][round][targetNode]) {
            _pending[jobId][round][targetNode] = true;
            proofs.openCase(jobId);
        }
        emit Attested(jobId, round, validatorNode, targetNode, recomputedResultHash);
    }

    /// @notice Settles a target's attestations, once. Decided when a strict majority of its eligible
    /// committee members, at least `MIN_ATTESTERS` of them, attested one hash: equal to the committed result, the target gets a passed
    /// proof; different, it is slashed 50% (fake gradients, with offence escalation). Either way
    /// members that attested the majority get a passed proof and the others a failed one (no
    /// slash). Callable by anyone once decided, or after the window (then undecided: no effect).
    /// @param jobId The job.
    /// @param round The round.
    /// @param targetNode The recomputed node.
    /// @return outcome How the target was settled.
    function settleAttestations(bytes32 jobId, uint32 round, bytes32 targetNode) external returns (Outcome outcome) {
        uint64 deadline = _attestDeadline[jobId][round];
        if (deadline == 0) revert Verification__NoCommittee(jobId, round);
        if (_outcomes[jobId][round][targetNode] != Outcome.None) {
            revert Verification__AttestationsSettled(jobId, round, targetNode);
        }
        bytes32 committed = proofs.resultOf(jobId, round, targetNode);
        if (committed == bytes32(0)) revert Verification__NoCommit(jobId, round, targetNode);
        (bytes32 majority, uint256 agreeing, uint256 eligible) = attestationMajority(jobId, round, targetNode);
        bool decided = eligible >= MIN_ATTESTERS && agreeing * 2 > eligible;
        if (!decided && block.timestamp <= deadline) revert Verification__AttestationOpen(jobId, round, deadline);
        outcome = !decided ? Outcome.Undecided : majority == committed ? Outcome.Honest : Outcome.Faked;
        _outcomes[jobId][round][targetNode] = outcome;
        if (_pending[jobId][round][targetNode]) proofs.closeCase(jobId);
        emit AttestationsSettled(jobId, round, targetNode, outcome, majority, agreeing, eligible);
        if (!decided) return outcome;
        bytes32[] storage m = _committees[jobId][round];
        mapping(bytes32 => bytes32) storage given = _attestations[jobId][round][targetNode];
        for (uint256 i = 0; i < m.length; ++i) {
            bytes32 h = given[m[i]];
            if (h != bytes32(0)) reputation.recordProof(m[i], h == majority);
        }
        if (outcome == Outcome.Faked) {
            _penalise(jobId, targetNode, FAKE_GRADIENTS_BPS, INodeCertRegistry.SlashReason.FakeGradients, false);
        } else {
            reputation.recordProof(targetNode, true);
        }
    }

    /// @notice The most attested hash for a target, how many members attested it, and how many
    /// committee members may attest the target (`eligible`: the committee minus the target and its
    /// task group). Decided when `eligible >= MIN_ATTESTERS` and `agreeing * 2 > eligible`.
    function attestationMajority(bytes32 jobId, uint32 round, bytes32 targetNode)
        public
        view
        returns (bytes32 majority, uint256 agreeing, uint256 eligible)
    {
        bytes32[] storage m = _committees[jobId][round];
        mapping(bytes32 => bytes32) storage given = _attestations[jobId][round][targetNode];
        bytes32[] memory hashes = new bytes32[](m.length);
        for (uint256 i = 0; i < m.length; ++i) {
            if (!_eligible(jobId, m[i], targetNode)) continue;
            ++eligible;
            hashes[i] = given[m[i]];
        }
        for (uint256 i = 0; i < hashes.length; ++i) {
            if (hashes[i] == bytes32(0)) continue;
            uint256 c;
            for (uint256 k = 0; k < hashes.length; ++k) {
                if (hashes[k] == hashes[i]) ++c;
            }
            if (c > agreeing) (majority, agreeing) = (hashes[i], c);
        }
    }

    /// @notice The stored committee of a round and the end of its attestation window.
    function committeeOf(bytes32 jobId, uint32 round) external view returns (bytes32[] memory members, uint64 deadline) {
        return (_committees[jobId][round], _attestDeadline[jobId][round]);
    }

    /// @notice The hash `validatorNode` attested for `targetNode` (zero if none).
    function attestationOf(bytes32 jobId, uint32 round, bytes32 validatorNode, bytes32 targetNode)
        external
        view
        returns (bytes32)
    {
        return _attestations[jobId][round][targetNode][validatorNode];
    }

    /// @notice How a target's attestations were settled (None while unsettled).
    function outcomeOf(bytes32 jobId, uint32 round, bytes32 targetNode) external view returns (Outcome) {
        return _outcomes[jobId][round][targetNode];
    }

    /// @notice The draw weight of each of `candidates` for a committee of `round` of `jobId`, read
    /// now: reputation + 1 (so new nodes can be drawn, seldom) for a distinct compute-eligible
    /// node that committed work in the round, 0 for any other. Nodes outside the round weigh 0: a
    /// coordinator naming its own nodes from no job filled the committee that settles honest
    /// targets as faked.
    /// @param jobId The job.
    /// @param round The round.
    /// @param candidates Nodes to weigh (a repeated node weighs 0 after its first place).
    function committeeWeights(bytes32 jobId, uint32 round, bytes32[] calldata candidates)
        internal
        view
        returns (uint256[] memory weight)
    {
        uint256 n = candidates.length;
        weight = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            bool dup;
            for (uint256 k = 0; k < i; ++k) {
                if (candidates[k] == candidates[i]) dup = true;
            }
            if (dup || !registry.isComputeEligible(candidates[i])) continue;
            if (proofs.resultOf(jobId, round, candidates[i]) == bytes32(0)) continue;
            weight[i] = reputation.reputationOf(candidates[i]) + 1;
        }
    }

    /// @notice `size` distinct candidates of nonzero weight (fewer if fewer have one), drawn
    /// without replacement from `seed` with probability proportional to their weights.
    /// @param seed Randomness.
    /// @param candidates Nodes to draw from.
    /// @param weights Their weights (`committeeWeights`), one per candidate.
    /// @param size Wanted size, 10 to 20.
    function pickCommittee(bytes32 seed, bytes32[] calldata candidates, uint256[] calldata weights, uint256 size)
        internal
        pure
        returns (bytes32[] memory members)
    {
        if (size < MIN_COMMITTEE || size > MAX_COMMITTEE) revert Verification__BadCommitteeSize(size);
        if (weights.length != candidates.length) revert Verification__BadGroups();
        uint256[] memory weight = weights;
        uint256 total;
        for (uint256 i = 0; i < weight.length; ++i) {
            total += weight[i];
        }
        bytes32[] memory picked = new bytes32[](size);
        uint256 got;
        while (got < size && total > 0) {
            uint256 r = uint256(keccak256(abi.encode(seed, got))) % total;
            uint256 i;
            // Walk the cumulative weights to the drawn point; weight[i] > r ends the walk.
            while (weight[i] <= r) {
                r -= weight[i];
                ++i;
            }
            picked[got++] = candidates[i];
            total -= weight[i];
            weight[i] = 0;
        }
        members = new bytes32[](got);
        for (uint256 i = 0; i < got; ++i) {
            members[i] = picked[i];
        }
    }

    // ---------------------------------------------------------------------------- views

    /// @notice The index the `position`-th opening of a challenge must open in a tree of `depth`.
    function chunkIndex(bytes32 seed, uint256 position, uint256 depth) public pure returns (uint256) {
        uint256 h = uint256(keccak256(abi.encode(seed, position)));
        return depth >= 256 ? h : h % (uint256(1) << depth);
    }

    /// @notice A challenge.
    function challengeOf(uint256 challengeId) external view returns (Challenge memory) {
        return _challenges[challengeId];
    }

    /// @inheritdoc IVerificationManager
    function groupOf(bytes32 jobId, bytes32 nodePubkey) external view returns (uint32) {
        return _groupOf[jobId][nodePubkey];
    }

    /// @notice The members of a task group.
    function membersOf(bytes32 jobId, uint32 group) external view returns (bytes32[] memory) {
        return _members[jobId][group];
    }

    /// @notice The settled majority result of a group's round (zero if not settled).
    function settledOf(bytes32 jobId, uint32 round, uint32 group) external view returns (bytes32) {
        return _settled[jobId][round][group];
    }

    /// @inheritdoc IVerificationManager
    function groupMajority(bytes32 jobId, uint32 round, uint32 group)
        public
        view
        returns (bytes32 majority, uint256 count, uint256 committed, bool consensus)
    {
        bytes32[] storage m = _members[jobId][group];
        bytes32[] memory results = new bytes32[](m.length);
        // The group as it stood in `round`: a replaced member and its replacement never both count.
        bool replaced = _hasReplacement[jobId][group];
        uint256 size;
        for (uint256 i = 0; i < m.length; ++i) {
            if (replaced) {
                Tenure storage t = _tenure[jobId][m[i]];
                if (round < t.joined || (t.leftPlusOne != 0 && round + 1 >= t.leftPlusOne)) continue;
            }
            ++size;
            results[i] = proofs.resultOf(jobId, round, m[i]);
            // A member whose stake is gone (withdrawn after it committed, or slashed away) has
            // nothing to lose by its vote: it counts as a member that committed nothing.
            if (results[i] != bytes32(0)) {
                (, uint256 stake,) = registry.standingOf(m[i]);
                if (stake == 0) results[i] = bytes32(0);
                else ++committed;
            }
        }
        for (uint256 i = 0; i < results.length; ++i) {
            if (results[i] == bytes32(0)) continue;
            uint256 c;
            for (uint256 k = 0; k < results.length; ++k) {
                if (results[k] == results[i]) ++c;
            }
            if (c > count) (majority, count) = (results[i], c);
        }
        consensus = count >= 2 && count * 2 > size;
    }

    // ------------------------------------------------------------------------ internals

    function _issue(bytes32 jobId, uint32 round, bytes32 nodePubkey, uint16 count)
        private
        returns (uint256 challengeId)
    {
        if (address(proofs) == address(0)) revert Verification__NotLinked();
        bytes32 committed = proofs.resultOf(jobId, round, nodePubkey);
        if (committed == bytes32(0)) revert Verification__NoCommit(jobId, round, nodePubkey);
        uint32 open = proofs.openRoundOf(jobId);
        if (uint256(round) + CHALLENGE_ROUNDS < open) revert Verification__RoundTooOld(jobId, round, open);
        if (++_issued[jobId][round][nodePubkey] > MAX_CHALLENGES_PER_COMMIT) {
            revert Verification__ChallengeLimit(jobId, round, nodePubkey);
        }
        // The step is drawn below the job's own steps per round, never a caller's count: a step
        // past the node's records is a padding leaf no record opens, and the node would be
        // slashed for a challenge nobody could answer.
        uint32 steps = proofs.jobManager().termsOf(jobId).stepsPerRound;
        // Settlement waits for the answer or the timeout, so a challenge of the last round counts.
        proofs.openCase(jobId);
        challengeId = ++challengeCount;
        bytes32 seed = _randomness(keccak256(abi.encode(committed, jobId, round, nodePubkey, challengeId)));
        uint64 deadline = uint64(block.timestamp) + responseWindow;
        uint32 step = uint32(uint256(keccak256(abi.encode(seed, "step"))) % steps);
        _challenges[challengeId] = Challenge({
            jobId: jobId,
            nodePubkey: nodePubkey,
            seed: seed,
            round: round,
            step: step,
            count: count,
            deadline: deadline,
            status: Status.Open
        });
        emit ChallengeIssued(challengeId, jobId, nodePubkey, round, step, count, seed, deadline);
    }

    /// @dev The answer's openings verified: the validator now has `responseWindow` to check them
    /// against its recomputation before anyone may release the challenge.
    function _answered(uint256 challengeId, Challenge storage c) private {
        c.status = Status.Answered;
        c.deadline = uint64(block.timestamp) + responseWindow;
        emit ChallengeAnswered(challengeId, c.nodePubkey);
        reputation.recordProof(c.nodePubkey, true);
    }

    function _open(uint256 challengeId) private view returns (Challenge storage c) {
        c = _challenges[challengeId];
        if (c.status == Status.None) revert Verification__UnknownChallenge(challengeId);
        if (c.status != Status.Open) revert Verification__ChallengeClosed(challengeId, uint8(c.status));
    }

    /// @dev A validator may attest any other node outside its own task group (whose members ran the
    /// same task and so share the target's interest).
    function _eligible(bytes32 jobId, bytes32 validatorNode, bytes32 targetNode) private view returns (bool) {
        if (validatorNode == targetNode) return false;
        uint32 g = _groupOf[jobId][targetNode];
        return g == 0 || _groupOf[jobId][validatorNode] != g;
    }

    /// @dev prevrandao and the previous block hash, mixed with what is being drawn for.
    function _randomness(bytes32 salt) private view returns (bytes32) {
        return keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), salt));
    }

    function _penalise(
        bytes32 jobId,
        bytes32 nodePubkey,
        uint256 slashBps,
        INodeCertRegistry.SlashReason reason,
        bool deactivate
    ) private {
        proofs.penalise(jobId, nodePubkey, slashBps, reason, deactivate);
        emit Penalised(jobId, nodePubkey, slashBps, reason);
        (uint32 offences, uint256 stake, bool active) = registry.standingOf(nodePubkey);
        // Any offence at or past the limit takes the rest of the stake and deactivates (design doc
        // "Slashing Malicious Nodes": 3 or more violations); a node emptied and inactive has nothing left.
        if (offences >= OFFENCE_LIMIT && (stake > 0 || active)) {
            proofs.penalise(jobId, nodePubkey, BPS, reason, true);
            emit Penalised(jobId, nodePubkey, BPS, reason);
        }
    }
}

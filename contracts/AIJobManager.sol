// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {IAIJobManager} from "./interfaces/IAIJobManager.sol";
import {INodeCertRegistry} from "./interfaces/INodeCertRegistry.sol";
import {IProofOfCompute} from "./interfaces/IProofOfCompute.sol";

/// @title AIJobManager
/// @notice Training jobs: escrowed budget, assignment of nodes, reassignment after missed
/// heartbeats, rounds, and pull payments of what ProofOfCompute credits.
contract AIJobManager is Owned, IAIJobManager {
    /// @notice Thrown when a job is submitted without budget.
    error JobManager__BudgetZero();
    /// @notice Thrown when job parameters are out of range.
    error JobManager__InvalidParams(string reason);
    /// @notice Thrown when a job id is unknown.
    error JobManager__UnknownJob(bytes32 jobId);
    /// @notice Thrown when a job is not in the status the call needs.
    error JobManager__WrongStatus(bytes32 jobId, JobStatus status);
    /// @notice Thrown when the caller may not control the job: its owner only (abandonJobAsOperator:
    /// the operator of the node it names, which was assigned to the job).
    error JobManager__NotJobController(address caller, bytes32 jobId);
    /// @notice Thrown when a node cannot take compute work (inactive or Basic role).
    error JobManager__NodeNotEligible(bytes32 nodePubkey);
    /// @notice Thrown when a node has not heartbeated within the interval.
    error JobManager__NodeNotLive(bytes32 nodePubkey);
    /// @notice Thrown when an assignment would exceed nodesWanted x redundancy active nodes.
    error JobManager__TooManyNodes(uint256 active, uint256 max);
    /// @notice Thrown when a node is assigned twice to the same job.
    error JobManager__AlreadyAssigned(bytes32 jobId, bytes32 nodePubkey);
    /// @notice Thrown when a node is not (or no longer) assigned to the job.
    error JobManager__NotAssigned(bytes32 jobId, bytes32 nodePubkey);
    /// @notice Thrown when reassigning away from a node that is still live.
    error JobManager__NodeStillLive(bytes32 nodePubkey);
    /// @notice Thrown when closing a round other than the current one.
    error JobManager__WrongRound(uint256 given, uint256 current);
    /// @notice Thrown when a credit exceeds the job's escrow.
    error JobManager__EscrowExceeded(uint256 amount, uint256 escrow);
    /// @notice Thrown when a caller other than ProofOfCompute credits escrow.
    error JobManager__NotProofOfCompute(address caller);
    /// @notice Thrown when there is nothing to withdraw.
    error JobManager__NothingToWithdraw(address account);
    /// @notice Thrown when a native transfer fails.
    error JobManager__TransferFailed(address to, uint256 amount);
    /// @notice Thrown when a job is abandoned before its coordinator has been silent long enough.
    error JobManager__NotStalled(bytes32 jobId, uint256 stalledAt);

    /// @notice Emitted when a job is submitted.
    event JobSubmitted(
        bytes32 indexed jobId,
        address indexed owner,
        string modelCid,
        string datasetCid,
        bytes32 paramsHash,
        uint32 rounds,
        uint256 budget
    );
    /// @notice Emitted when a node is assigned to a job.
    event NodeAssigned(bytes32 indexed jobId, bytes32 indexed nodePubkey, address operator);
    /// @notice Emitted when a task moves from a silent node to another.
    event TaskReassigned(bytes32 indexed jobId, bytes32 indexed fromNode, bytes32 indexed toNode, uint32 round);
    /// @notice Emitted when a round's aggregate is accepted.
    event RoundClosed(bytes32 indexed jobId, uint32 round, string checkpointCid, bytes32 weightsDigest);
    /// @notice Emitted when the measured improvement of a job is reported.
    event AccuracyReported(bytes32 indexed jobId, uint32 improvementBps);
    /// @notice Emitted when a job changes status.
    event JobStatusChanged(bytes32 indexed jobId, JobStatus status);
    /// @notice Emitted when escrow is credited to an account.
    event Credited(bytes32 indexed jobId, address indexed to, uint256 amount);
    /// @notice Emitted when an account withdraws its credited balance.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when the linked contracts are set.
    event LinksSet(address registry, address proofOfCompute);
    /// @notice Emitted when a stalled job is ended by `by` (abandonJob: its owner;
    /// abandonJobAsOperator: a node's operator): it is cut to `rounds`, its budget to `budget`, and
    /// `refund` (the rest of the escrow) is credited to the owner.
    event JobAbandoned(bytes32 indexed jobId, address indexed by, uint32 rounds, uint256 budget, uint256 refund);

    /// @notice What a job owner submits.
    struct TrainParams {
        string modelCid;
        string datasetCid;
        bytes32 paramsHash;
        uint32 rounds;
        uint32 nodesWanted;
        uint16 redundancy;
        uint256 baseRatePerSecond;
        uint32 targetImprovementBps;
        /// @dev Local steps every node runs per round, samples per step and the GPU-seconds one
        /// step is budgeted at: the work a committed round is paid for.
        uint32 stepsPerRound;
        uint32 samplesPerStep;
        uint32 secondsPerStep;
    }

    struct Job {
        address owner;
        JobStatus status;
        uint32 rounds;
        uint32 currentRound;
        uint32 nodesWanted;
        uint16 redundancy;
        uint64 createdAt;
        uint32 targetImprovementBps;
        uint32 achievedImprovementBps;
        /// @dev When the job last made progress: its first assignment, then each round closed.
        uint64 progressAt;
        uint256 budget;
        uint256 escrow;
        uint256 baseRatePerSecond;
        bytes32 paramsHash;
        bytes32 latestWeightsDigest;
        uint32 stepsPerRound;
        uint32 samplesPerStep;
        uint32 secondsPerStep;
        uint64 completedAt;
        string modelCid;
        string datasetCid;
        string latestCheckpointCid;
    }

    uint256 public constant MAX_ROUNDS = 100_000;
    uint256 public constant MAX_REDUNDANCY = 10;
    /// @notice Bounds of the per-round work terms, so no product of them can overflow a payout.
    uint256 public constant MAX_STEPS_PER_ROUND = 1_000_000;
    uint256 public constant MAX_SAMPLES_PER_STEP = 1_000_000;
    uint256 public constant MAX_SECONDS_PER_STEP = 1 days;
    /// @notice How long past a round's budgeted compute time (stepsPerRound x secondsPerStep, at
    /// most MAX_STALL_ROUND_TIME) a running job may go without a round closing before it may be
    /// abandoned.
    uint256 public constant STALL_GRACE = 1 days;
    /// @notice The most a round's budgeted compute time adds to the stall window. The owner picks
    /// that time (up to 1e6 steps x 1 day, ~2,740 years), and while the job runs the pay its nodes
    /// earned for closed rounds waits on it: uncapped, an owner that went away with its
    /// coordinator locked that pay for good (found in the contracts audit). A week bounds the wait
    /// at 8 days, about the default 7-day unbonding delay an operator waits for its stake, and is
    /// far beyond the minutes to hours a coordinator takes to close a round. A job whose rounds
    /// really need more than a week between closes can be abandoned mid-round: its open round's
    /// commits so far are still paid where a task group's majority confirms them.
    uint256 public constant MAX_STALL_ROUND_TIME = 7 days;

    INodeCertRegistry public registry;
    IProofOfCompute public proofOfCompute;
    uint256 public totalEscrow;
    uint256 public totalClaimable;

    mapping(bytes32 jobId => Job job) private _jobs;
    mapping(bytes32 jobId => bytes32[] nodes) private _nodes;
    mapping(bytes32 jobId => mapping(bytes32 nodePubkey => address operator)) private _operators;
    mapping(bytes32 jobId => mapping(bytes32 nodePubkey => bool active)) private _activeAssignment;
    mapping(address account => uint256 amount) private _claimable;
    mapping(address owner => uint256 nonce) private _nonces;
    mapping(bytes32 jobId => uint256 count) private _activeCount;

    /// @notice Links the node registry and ProofOfCompute, once. Owner only. ProofOfCompute moves
    /// escrow (credit), so relinking it would let the owner pay any job's escrow to itself.
    /// @param registry_ The NodeCertRegistry.
    /// @param proofOfCompute_ The ProofOfCompute contract that credits rewards.
    function setLinks(address registry_, address proofOfCompute_) external onlyOwner {
        if (address(proofOfCompute) != address(0)) revert Owned__AlreadyLinked();
        if (registry_ == address(0) || proofOfCompute_ == address(0)) revert Owned__ZeroAddress();
        registry = INodeCertRegistry(registry_);
        proofOfCompute = IProofOfCompute(proofOfCompute_);
        emit LinksSet(registry_, proofOfCompute_);
    }

    /// @notice Submits a training job; `msg.value` is escrowed as its budget.
    /// @param p Model and dataset CIDs, hyper-parameter hash, rounds and reward terms.
    /// @return jobId keccak256(this contract, chain id, owner, owner nonce): unique to this
    /// deployment, so a proof or envelope signed for one job can serve no other deployment's job.
    function submitTrain(TrainParams calldata p) external payable returns (bytes32 jobId) {
        if (msg.value == 0) revert JobManager__BudgetZero();
        if (p.rounds == 0 || p.rounds > MAX_ROUNDS) revert JobManager__InvalidParams("rounds");
        if (p.redundancy == 0 || p.redundancy > MAX_REDUNDANCY) revert JobManager__InvalidParams("redundancy");
        if (p.nodesWanted == 0) revert JobManager__InvalidParams("nodesWanted");
        if (bytes(p.modelCid).length == 0) revert JobManager__InvalidParams("modelCid");
        if (bytes(p.datasetCid).length == 0) revert JobManager__InvalidParams("datasetCid");
        if (p.stepsPerRound == 0 || p.stepsPerRound > MAX_STEPS_PER_ROUND) {
            revert JobManager__InvalidParams("stepsPerRound");
        }
        if (p.samplesPerStep == 0 || p.samplesPerStep > MAX_SAMPLES_PER_STEP) {
            revert JobManager__InvalidParams("samplesPerStep");
        }
        if (p.secondsPerStep == 0 || p.secondsPerStep > MAX_SECONDS_PER_STEP) {
            revert JobManager__InvalidParams("secondsPerStep");
        }
        // A second worth more than the whole budget is no price; and bounded by the budget, a
        // node's batch demand (gpu-seconds x rate x multipliers) cannot overflow at settlement,
        // which would leave the job unsettled and its workers unpaid for good.
        if (p.baseRatePerSecond > msg.value) revert JobManager__InvalidParams("baseRatePerSecond");

        jobId = keccak256(abi.encode(address(this), block.chainid, msg.sender, _nonces[msg.sender]++));
        Job storage j = _jobs[jobId];
        j.owner = msg.sender;
        j.status = JobStatus.Open;
        j.rounds = p.rounds;
        j.nodesWanted = p.nodesWanted;
        j.redundancy = p.redundancy;
        j.createdAt = uint64(block.timestamp);
        j.targetImprovementBps = p.targetImprovementBps;
        j.budget = msg.value;
        j.escrow = msg.value;
        j.baseRatePerSecond = p.baseRatePerSecond;
        j.paramsHash = p.paramsHash;
        j.stepsPerRound = p.stepsPerRound;
        j.samplesPerStep = p.samplesPerStep;
        j.secondsPerStep = p.secondsPerStep;
        j.modelCid = p.modelCid;
        j.datasetCid = p.datasetCid;
        totalEscrow += msg.value;
        emit JobSubmitted(jobId, msg.sender, p.modelCid, p.datasetCid, p.paramsHash, p.rounds, msg.value);
    }

    /// @notice Assigns nodes to a job. An authorised coordinator only: rewards are shared
    /// pro rata, so an owner that placed its own nodes would take the workers' pools back.
    /// @param jobId The job.
    /// @param nodes Public keys of eligible, live nodes.
    function assign(bytes32 jobId, bytes32[] calldata nodes) external onlyAuthorised {
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Open && j.status != JobStatus.Running) revert JobManager__WrongStatus(jobId, j.status);
        for (uint256 i = 0; i < nodes.length; ++i) {
            _assignOne(jobId, nodes[i]);
        }
        if (j.status == JobStatus.Open) {
            j.status = JobStatus.Running;
            j.progressAt = uint64(block.timestamp);
            emit JobStatusChanged(jobId, JobStatus.Running);
        }
    }

    /// @notice Moves a task from a node that missed its heartbeat to another node, which resumes
    /// from the latest checkpoint. An authorised coordinator only (see assign).
    /// @param jobId The job.
    /// @param fromNode The silent node.
    /// @param toNode The replacement.
    function reassign(bytes32 jobId, bytes32 fromNode, bytes32 toNode) external onlyAuthorised {
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Running) revert JobManager__WrongStatus(jobId, j.status);
        if (!_activeAssignment[jobId][fromNode]) revert JobManager__NotAssigned(jobId, fromNode);
        if (registry.isLive(fromNode)) revert JobManager__NodeStillLive(fromNode);
        _activeAssignment[jobId][fromNode] = false;
        _activeCount[jobId] -= 1;
        proofOfCompute.deauthorize(jobId, fromNode, _operators[jobId][fromNode]);
        _assignOne(jobId, toNode);
        emit TaskReassigned(jobId, fromNode, toNode, j.currentRound);
    }

    /// @notice Accepts the aggregate of the current round and closes it for commits (its set of
    /// commits is final from here: redundancy settles and spot checks draw over it). Authorised
    /// coordinator only.
    /// @param jobId The job.
    /// @param round Must equal the current round.
    /// @param checkpointCid CID of the aggregated weights.
    /// @param weightsDigest keccak256 Merkle root of the aggregated weights.
    function closeRound(bytes32 jobId, uint32 round, string calldata checkpointCid, bytes32 weightsDigest)
        external
        onlyAuthorised
    {
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Running) revert JobManager__WrongStatus(jobId, j.status);
        if (round != j.currentRound) revert JobManager__WrongRound(round, j.currentRound);
        j.currentRound = round + 1;
        j.progressAt = uint64(block.timestamp);
        j.latestCheckpointCid = checkpointCid;
        j.latestWeightsDigest = weightsDigest;
        emit RoundClosed(jobId, round, checkpointCid, weightsDigest);
        if (j.currentRound == j.rounds) {
            j.status = JobStatus.Completed;
            j.completedAt = uint64(block.timestamp);
            emit JobStatusChanged(jobId, JobStatus.Completed);
        }
        proofOfCompute.roundClosed(jobId, round);
    }

    /// @notice Reports the validation improvement the job achieved. Authorised coordinator only.
    /// @param jobId The job.
    /// @param improvementBps Relative improvement of the validation metric in basis points.
    function reportAccuracy(bytes32 jobId, uint32 improvementBps) external onlyAuthorised {
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Running && j.status != JobStatus.Completed) {
            revert JobManager__WrongStatus(jobId, j.status);
        }
        j.achievedImprovementBps = improvementBps;
        emit AccuracyReported(jobId, improvementBps);
    }

    /// @notice Cancels a job nobody works on yet; the budget becomes withdrawable by its owner.
    /// @param jobId The job.
    function cancelJob(bytes32 jobId) external {
        Job storage j = _job(jobId);
        if (msg.sender != j.owner) revert JobManager__NotJobController(msg.sender, jobId);
        if (j.status != JobStatus.Open) revert JobManager__WrongStatus(jobId, j.status);
        j.status = JobStatus.Cancelled;
        emit JobStatusChanged(jobId, JobStatus.Cancelled);
        _credit(jobId, j, j.owner, j.escrow);
    }

    /// @notice Ends a running job whose coordinator stopped closing rounds, so neither its escrow
    /// nor its nodes' pay for closed rounds is locked for good; its owner calls this, a node's
    /// operator abandonJobAsOperator. It may be ended once no round has closed for STALL_GRACE
    /// plus one round's budgeted compute time, at most MAX_STALL_ROUND_TIME (see stalledAt). The
    /// job is cut to the rounds it ran, the open one included because the commits made to it so
    /// far are paid where a task group's majority confirms them (ProofOfCompute takes no more;
    /// nothing else judges that round), and its budget in proportion; the rest of the escrow is
    /// credited to the owner now, whoever calls. The job is then Completed, and settlement pays its
    /// nodes' committed rounds as for any completed job of that length and budget.
    /// @param jobId The job.
    function abandonJob(bytes32 jobId) external {
        Job storage j = _job(jobId);
        if (msg.sender != j.owner) revert JobManager__NotJobController(msg.sender, jobId);
        _abandon(jobId, j);
    }

    /// @notice Ends a stalled running job as abandonJob does, called by the operator of `node`, a
    /// node ever assigned to the job (one reassigned away included: its closed rounds are paid
    /// too). The nodes' pay for closed rounds waits on the job ending, so an owner gone with its
    /// coordinator would lock it for good if only the owner could end the job (found in the
    /// contracts audit). The node is named so the check is one read, whatever the operator runs.
    /// @param jobId The job.
    /// @param node A node of the caller's that was assigned to the job.
    function abandonJobAsOperator(bytes32 jobId, bytes32 node) external {
        Job storage j = _job(jobId);
        if (_operators[jobId][node] != msg.sender) revert JobManager__NotJobController(msg.sender, jobId);
        _abandon(jobId, j);
    }

    /// @inheritdoc IAIJobManager
    function credit(bytes32 jobId, address to, uint256 amount) external {
        if (msg.sender != address(proofOfCompute)) revert JobManager__NotProofOfCompute(msg.sender);
        Job storage j = _job(jobId);
        _credit(jobId, j, to, amount);
    }

    /// @inheritdoc IAIJobManager
    function markFinalized(bytes32 jobId) external returns (uint256 refund) {
        if (msg.sender != address(proofOfCompute)) revert JobManager__NotProofOfCompute(msg.sender);
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Completed) revert JobManager__WrongStatus(jobId, j.status);
        j.status = JobStatus.Finalized;
        emit JobStatusChanged(jobId, JobStatus.Finalized);
        refund = j.escrow;
        if (refund > 0) _credit(jobId, j, j.owner, refund);
    }

    /// @notice Pays out everything credited to the caller (pull payment).
    function withdraw() external {
        uint256 amount = _claimable[msg.sender];
        if (amount == 0) revert JobManager__NothingToWithdraw(msg.sender);
        _claimable[msg.sender] = 0;
        totalClaimable -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert JobManager__TransferFailed(msg.sender, amount);
    }

    // ---------------------------------------------------------------------------- views

    /// @notice The full record of a job.
    function getJob(bytes32 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @inheritdoc IAIJobManager
    function termsOf(bytes32 jobId) external view returns (JobTerms memory) {
        Job storage j = _jobs[jobId];
        return JobTerms({
            owner: j.owner,
            status: j.status,
            rounds: j.rounds,
            budget: j.budget,
            escrow: j.escrow,
            baseRatePerSecond: j.baseRatePerSecond,
            targetImprovementBps: j.targetImprovementBps,
            achievedImprovementBps: j.achievedImprovementBps,
            stepsPerRound: j.stepsPerRound,
            samplesPerStep: j.samplesPerStep,
            secondsPerStep: j.secondsPerStep,
            completedAt: j.completedAt
        });
    }

    /// @inheritdoc IAIJobManager
    function roundInfo(bytes32 jobId) external view returns (RoundInfo memory) {
        Job storage j = _jobs[jobId];
        return RoundInfo({
            status: j.status,
            currentRound: j.currentRound,
            stepsPerRound: j.stepsPerRound,
            latestWeightsDigest: j.latestWeightsDigest
        });
    }

    /// @inheritdoc IAIJobManager
    function nodesOf(bytes32 jobId) external view returns (bytes32[] memory) {
        return _nodes[jobId];
    }

    /// @inheritdoc IAIJobManager
    function nodeCount(bytes32 jobId) external view returns (uint256) {
        return _nodes[jobId].length;
    }

    /// @inheritdoc IAIJobManager
    function nodeAt(bytes32 jobId, uint256 index) external view returns (bytes32) {
        return _nodes[jobId][index];
    }

    /// @inheritdoc IAIJobManager
    function assignedOperator(bytes32 jobId, bytes32 nodePubkey) external view returns (address) {
        return _operators[jobId][nodePubkey];
    }

    /// @inheritdoc IAIJobManager
    function isAssigned(bytes32 jobId, bytes32 nodePubkey) external view returns (bool) {
        return _activeAssignment[jobId][nodePubkey];
    }

    /// @notice When running job `jobId` may be abandoned by its owner or its nodes' operators (see
    /// abandonJob); 0 if it is not running.
    function stalledAt(bytes32 jobId) external view returns (uint256) {
        Job storage j = _jobs[jobId];
        return j.status == JobStatus.Running ? _stalledAt(j) : 0;
    }

    /// @notice What `account` can withdraw.
    function claimableOf(address account) external view returns (uint256) {
        return _claimable[account];
    }

    // ------------------------------------------------------------------------ internals

    function _job(bytes32 jobId) private view returns (Job storage j) {
        j = _jobs[jobId];
        if (j.status == JobStatus.None) revert JobManager__UnknownJob(jobId);
    }

    function _stalledAt(Job storage j) private view returns (uint256) {
        uint256 roundTime = uint256(j.stepsPerRound) * j.secondsPerStep;
        if (roundTime > MAX_STALL_ROUND_TIME) roundTime = MAX_STALL_ROUND_TIME;
        return uint256(j.progressAt) + STALL_GRACE + roundTime;
    }

    function _abandon(bytes32 jobId, Job storage j) private {
        if (j.status != JobStatus.Running) revert JobManager__WrongStatus(jobId, j.status);
        uint256 at = _stalledAt(j);
        if (block.timestamp < at) revert JobManager__NotStalled(jobId, at);
        // Running means currentRound < rounds, so the cut never lengthens the job.
        uint32 ran = j.currentRound + 1;
        uint256 kept = j.budget * ran / j.rounds;
        uint256 refund = j.budget - kept;
        j.rounds = ran;
        j.budget = kept;
        j.status = JobStatus.Completed;
        j.completedAt = uint64(block.timestamp);
        // Commits made to the open round until now are paid where a task group's majority
        // confirms them (ProofOfCompute.confirmSealedCommit); later ones are refused.
        proofOfCompute.sealCommits(jobId);
        emit JobAbandoned(jobId, msg.sender, ran, kept, refund);
        emit JobStatusChanged(jobId, JobStatus.Completed);
        if (refund > 0) _credit(jobId, j, j.owner, refund);
    }

    function _assignOne(bytes32 jobId, bytes32 node) private {
        if (_operators[jobId][node] != address(0)) revert JobManager__AlreadyAssigned(jobId, node);
        if (!registry.isComputeEligible(node)) revert JobManager__NodeNotEligible(node);
        if (!registry.isLive(node)) revert JobManager__NodeNotLive(node);
        Job storage j = _jobs[jobId];
        uint256 max = uint256(j.nodesWanted) * j.redundancy;
        if (_activeCount[jobId] + 1 > max) revert JobManager__TooManyNodes(_activeCount[jobId] + 1, max);
        address operator = registry.operatorOf(node);
        _operators[jobId][node] = operator;
        _activeAssignment[jobId][node] = true;
        _activeCount[jobId] += 1;
        _nodes[jobId].push(node);
        emit NodeAssigned(jobId, node, operator);
        proofOfCompute.authorize(jobId, node, operator, j.rounds);
    }

    function _credit(bytes32 jobId, Job storage j, address to, uint256 amount) private {
        if (amount > j.escrow) revert JobManager__EscrowExceeded(amount, j.escrow);
        j.escrow -= amount;
        totalEscrow -= amount;
        _claimable[to] += amount;
        totalClaimable += amount;
        emit Credited(jobId, to, amount);
    }
}

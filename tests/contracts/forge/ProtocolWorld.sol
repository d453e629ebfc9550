// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CheatBase} from "./Base.sol";
import {NodeCertRegistry} from "../../../contracts/NodeCertRegistry.sol";
import {ReputationRegistry} from "../../../contracts/ReputationRegistry.sol";
import {AIJobManager} from "../../../contracts/AIJobManager.sol";
import {ProofOfCompute} from "../../../contracts/ProofOfCompute.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {ArthaDIDRegistry} from "../../../contracts/ArthaDIDRegistry.sol";
import {VerificationManager} from "../../../contracts/VerificationManager.sol";
import {DisputeGame} from "../../../contracts/DisputeGame.sol";
import {INodeCertRegistry} from "../../../contracts/interfaces/INodeCertRegistry.sol";
import {IAIJobManager} from "../../../contracts/interfaces/IAIJobManager.sol";

/// @notice What a node computed for one round of one task, small enough to open in Solidity:
/// the weights digests s_0..s_3 after each of the job's 3 steps (s_0 is the round's start), three
/// 68-byte step records (their Merkle root is the loss digest), and 4 update chunks of 32 bytes
/// (their root is the gradient digest). Trees follow contracts/libraries/MerkleProof.sol and
/// lib/merkle.ts: leaf = keccak256(0x00 ++ data), node = keccak256(0x01 ++ left ++ right), the
/// leaf level padded to a power of two with bytes32(0).
library Trace {
    struct T {
        bytes32[4] s;
        bytes32[4] chunks;
        bytes32 loss;
        bytes32 grad;
        bytes32 weights;
        bytes32 stepsRoot;
    }

    /// @dev How an adversarial node made up what it committed.
    uint8 internal constant GARBAGE = 0; // random digests: it cannot open anything
    uint8 internal constant DIVERGE = 1; // honest up to step k, made up from there (k = 0: the start)
    uint8 internal constant SAME_WEIGHTS = 2; // honest weights, made-up update: same s_N, other result
    uint8 internal constant COPY = 3; // another task group's honest result (a copycat)
    uint8 internal constant FREE_RIDE = 4; // its own group's honest result, copied, not computed
    uint8 internal constant MODES = 5;

    function genesis(bytes32 job) internal pure returns (bytes32) {
        return keccak256(abi.encode("genesis", job));
    }

    /// @notice The honest coordinator's aggregate of `round`: the next round's start.
    function aggregate(bytes32 job, uint32 round) internal pure returns (bytes32) {
        return keccak256(abi.encode("aggregate", job, round));
    }

    function start(bytes32 job, uint32 round) internal pure returns (bytes32) {
        return round == 0 ? genesis(job) : aggregate(job, round - 1);
    }

    /// @notice What every honest member of task group `group` computes in `round`.
    function honest(bytes32 job, uint32 round, uint32 group) internal pure returns (T memory t) {
        t.s[0] = start(job, round);
        for (uint256 i = 1; i < 4; ++i) {
            t.s[i] = keccak256(abi.encode("step", job, round, group, i, t.s[i - 1]));
        }
        for (uint256 k = 0; k < 4; ++k) {
            t.chunks[k] = keccak256(abi.encode("chunk", job, round, group, k));
        }
        seal(t);
    }

    /// @notice An adversary's made-up round (every mode but GARBAGE).
    function fake(bytes32 job, uint32 round, uint32 group, uint8 mode, uint8 k, uint32 other, bytes32 salt)
        internal
        pure
        returns (T memory t)
    {
        if (mode == COPY) return honest(job, round, other);
        t = honest(job, round, group);
        if (mode == FREE_RIDE) return t;
        t.chunks[0] = keccak256(abi.encode("evil-chunk", salt));
        if (mode == DIVERGE) {
            if (k == 0) t.s[0] = keccak256(abi.encode("evil-start", salt));
            for (uint256 i = k == 0 ? 1 : k; i < 4; ++i) {
                t.s[i] = keccak256(abi.encode("evil-step", salt, i));
            }
        }
        seal(t);
    }

    function seal(T memory t) internal pure {
        t.loss = root(recordLeaves(t));
        t.grad = root(chunkLeaves(t));
        t.weights = t.s[3];
        t.stepsRoot = root(stepLeaves(t));
    }

    function result(T memory t) internal pure returns (bytes32) {
        return keccak256(abi.encode(t.loss, t.grad, t.weights));
    }

    /// @notice Step record i (after step i + 1): f32 loss, weights hash, gradient hash (68 bytes).
    function record(T memory t, uint256 i) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes4(uint32(i + 1)), t.s[i + 1], keccak256(abi.encode("grad", t.s[i + 1])));
    }

    function recordLeaves(T memory t) internal pure returns (bytes32[4] memory l) {
        for (uint256 i = 0; i < 3; ++i) {
            l[i] = leaf(record(t, i));
        }
        // l[3] stays bytes32(0): padding to a power of two.
    }

    function chunkLeaves(T memory t) internal pure returns (bytes32[4] memory l) {
        for (uint256 i = 0; i < 4; ++i) {
            l[i] = leaf(abi.encodePacked(t.chunks[i]));
        }
    }

    function stepLeaves(T memory t) internal pure returns (bytes32[4] memory l) {
        for (uint256 i = 0; i < 4; ++i) {
            l[i] = leaf(abi.encodePacked(t.s[i]));
        }
    }

    function leaf(bytes memory data) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), data));
    }

    function parent(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x01), a, b));
    }

    function root(bytes32[4] memory l) internal pure returns (bytes32) {
        return parent(parent(l[0], l[1]), parent(l[2], l[3]));
    }

    function proof(bytes32[4] memory l, uint256 i) internal pure returns (bytes32[] memory p) {
        p = new bytes32[](2);
        p[0] = l[i ^ 1];
        p[1] = i < 2 ? parent(l[2], l[3]) : parent(l[0], l[1]);
    }
}

/// @notice The deployed protocol, as lib/chain/deploy.ts wires it.
struct Deployment {
    NodeCertRegistry registry;
    ReputationRegistry reputation;
    AIJobManager jobs;
    ProofOfCompute proofs;
    ModelRegistry models;
    ArthaDIDRegistry dids;
    VerificationManager verification;
    DisputeGame disputes;
}

/// @notice The world the handlers act in: the deployment, the actors and their keys, what the
/// honest side knows (jobs, commits, challenges, disputes, committees), ghost accounting, and the
/// honest nodes' behaviour. Not a fuzz target: only the handlers call it.
contract ProtocolWorld is CheatBase {
    using Trace for Trace.T;

    uint256 public constant HONEST = 7; // H0..H5 from the start; H6 joins during the run
    uint256 public constant INITIAL_HONEST = 6;
    uint256 public constant ADV_NODES = 5;
    uint256 public constant ADV_ACCOUNTS = 4;
    uint256 public constant DIDS = 2;
    uint32 public constant STEPS = 3;
    uint256 public constant MAX_JOB_NODES = 10;
    uint8 public constant HONEST_KIND = 1;
    uint8 public constant ADV_KIND = 2;
    uint256 internal constant BPS = 10_000;

    NodeCertRegistry public immutable registry;
    ReputationRegistry public immutable reputation;
    AIJobManager public immutable jobs;
    ProofOfCompute public immutable proofs;
    ModelRegistry public immutable models;
    ArthaDIDRegistry public immutable dids;
    VerificationManager public immutable verification;
    DisputeGame public immutable disputes;

    /// @notice Deployer and owner of every contract (its treasury, too).
    address public immutable admin;
    /// @notice The honest coordinator: authorised on jobs, proofs, verification and disputes.
    address public immutable coordinator;
    /// @notice The honest job owner.
    address public immutable owner;
    /// @notice The hardware attester.
    address public immutable attester;
    uint256 internal immutable _attesterPk;

    bytes32[HONEST] internal _hKey;
    bytes32[HONEST] internal _hSecret;
    address[HONEST] internal _hOp;
    bytes32[ADV_NODES] internal _aKey;
    bytes32[ADV_NODES] internal _aSecret;
    address[ADV_ACCOUNTS] internal _adv;
    /// @dev The fuzzer's senders (raw calls to every contract). Kept apart from every account that
    /// holds ether: forge 1.7.1 can overwrite a balance set with vm.deal when that account later
    /// sends a fuzzed call, which would break the closed-world ether check for reasons outside the
    /// protocol. Outsiders never receive ether (nothing is ever credited to them).
    address[ADV_ACCOUNTS] internal _outsider;

    mapping(bytes32 key => uint8 kind) public kindOf;
    mapping(bytes32 key => uint256 indexPlusOne) internal _hIndex;
    /// @notice Adversarial nodes that stopped heartbeating (to be reported, slashed, reassigned).
    mapping(bytes32 key => bool quiet) public silent;
    mapping(bytes32 key => bool done) public registered;
    /// @notice Every registered node (honest and adversarial), for the sum-of-stakes check.
    bytes32[] public nodes;
    /// @notice Stake an honest node deposited: what it must still hold.
    mapping(bytes32 key => uint256 stake) public ghostStake;

    // ------------------------------------------------------------------ jobs and rounds

    struct JobRec {
        bool honest;
        bool cancelled;
        bool abandoned;
        uint8 groups;
        uint32 rounds;
        uint256 budget;
    }

    bytes32[] public honestJobs;
    bytes32[] public advJobs;
    mapping(bytes32 job => JobRec rec) internal _jobRec;
    /// @notice Rounds an honest node committed (honestly) on a job.
    mapping(bytes32 job => mapping(bytes32 node => uint32 rounds)) public ghostRounds;
    /// @notice The honest nodes holding (or having held) a task of each honest job.
    mapping(bytes32 job => bytes32[] nodes) internal _honestMembers;

    struct Fake {
        bool set;
        uint8 mode;
        uint8 k;
        uint32 other;
        bytes32 salt;
    }

    mapping(bytes32 job => mapping(uint32 round => mapping(bytes32 node => Fake fake))) internal _fakes;

    // -------------------------------------------- challenges, disputes, committees in flight

    uint256[] public challenges; // issued and not yet seen closed
    uint256[] public disputeIds; // every dispute opened (never pruned: the bond sum walks them)
    uint256[] internal _liveDisputes; // not yet seen settled
    /// @notice Who a dispute bond can be credited to: payers, defenders' operators, the treasury.
    address[] internal _bondCreditors;
    mapping(address account => bool listed) internal _isBondCreditor;

    struct Committee {
        bytes32 job;
        uint32 round;
        bool honestDone;
    }

    Committee[] internal _committees;

    // ------------------------------------------------------------------- identity ghosts

    bytes32[DIDS] internal _didAuth;
    bytes32[DIDS] internal _didSecret;
    bytes32[DIDS] public didEnc;
    bool[DIDS] public didCreated;
    bytes public lastDidProof; // an honest key proof an adversary saw, for replays
    bytes32 public lastDidHash;
    bytes32 public lastDidEnc;

    bytes32 public honestModel;
    uint32 public ghostCheckpoints;

    struct Attestation {
        bytes32 node;
        bytes32 hwHash;
        bytes sig;
    }

    Attestation[] internal _attestations;
    mapping(bytes32 node => bytes32 hwHash) public ghostHw;

    // ------------------------------------------------------------------------ accounting

    /// @notice Ether minted into the world's accounts (vm.deal), and their balances at the start.
    uint256 public dealt;
    uint256 public baseline;
    /// @notice What an account pulled from AIJobManager (honest accounts pull only through handlers).
    mapping(address account => uint256 amount) public jobsWithdrawn;
    /// @notice Reward model results already checked: nodes paid, owner refund counted.
    mapping(bytes32 job => uint32 paid) public verifiedPaid;
    mapping(bytes32 job => bool counted) public refundCounted;
    uint256[HONEST] internal _expectedEarned;
    uint256 public expectedOwner;

    // ---------------------------------------------------------------- violations, counters

    uint256 public violations;
    string public firstViolation;
    bytes public firstReason;
    bytes32[] internal _counterKeys;
    mapping(bytes32 key => uint256 value) public counter;

    address[] internal _extraAccounts;

    constructor(Deployment memory d, address admin_, address coordinator_, address owner_, uint256 attesterPk_) {
        registry = d.registry;
        reputation = d.reputation;
        jobs = d.jobs;
        proofs = d.proofs;
        models = d.models;
        dids = d.dids;
        verification = d.verification;
        disputes = d.disputes;
        admin = admin_;
        coordinator = coordinator_;
        owner = owner_;
        _attesterPk = attesterPk_;
        attester = vm.addr(attesterPk_);
        for (uint256 i = 0; i < HONEST; ++i) {
            (_hKey[i], _hSecret[i]) = vm.createEd25519Key(keccak256(abi.encode("honest-node", i)));
            _hOp[i] = address(uint160(0xB0000 + i));
            kindOf[_hKey[i]] = HONEST_KIND;
            _hIndex[_hKey[i]] = i + 1;
            vm.label(_hOp[i], string.concat("honestOperator", vm.toString(i)));
        }
        for (uint256 i = 0; i < ADV_NODES; ++i) {
            (_aKey[i], _aSecret[i]) = vm.createEd25519Key(keccak256(abi.encode("adversarial-node", i)));
            kindOf[_aKey[i]] = ADV_KIND;
        }
        for (uint256 i = 0; i < ADV_ACCOUNTS; ++i) {
            _adv[i] = address(uint160(0xE0000 + i));
            _outsider[i] = address(uint160(0xF0000 + i));
            vm.label(_adv[i], string.concat("adversary", vm.toString(i)));
            vm.label(_outsider[i], string.concat("outsider", vm.toString(i)));
        }
        for (uint256 i = 0; i < DIDS; ++i) {
            (_didAuth[i], _didSecret[i]) = vm.createEd25519Key(keccak256(abi.encode("honest-did", i)));
            didEnc[i] = keccak256(abi.encode("honest-enc", i));
        }
    }

    /// @notice Registers the first honest nodes and two adversarial ones, then fixes the baseline.
    function bootstrap(address[] calldata extra) external {
        for (uint256 i = 0; i < extra.length; ++i) {
            _extraAccounts.push(extra[i]);
        }
        _addBondCreditor(admin);
        for (uint256 i = 0; i < INITIAL_HONEST; ++i) {
            registerHonest(i);
        }
        for (uint256 i = 0; i < ADV_NODES - 1; ++i) {
            registerAdversarial(i, INodeCertRegistry.NodeRole.GPUProvider);
        }
        address[] memory all = accounts();
        uint256 sum;
        for (uint256 i = 0; i < all.length; ++i) {
            sum += all[i].balance;
        }
        baseline = sum + _contractBalances() - dealt;
    }

    // ---------------------------------------------------------------------- actors, keys

    function hKey(uint256 i) external view returns (bytes32) {
        return _hKey[i];
    }

    function hOp(uint256 i) external view returns (address) {
        return _hOp[i];
    }

    function hSecret(uint256 i) external view returns (bytes32) {
        return _hSecret[i];
    }

    function aKey(uint256 i) external view returns (bytes32) {
        return _aKey[i];
    }

    function aSecret(uint256 i) external view returns (bytes32) {
        return _aSecret[i];
    }

    function adv(uint256 i) external view returns (address) {
        return _adv[i % ADV_ACCOUNTS];
    }

    function outsiders() external view returns (address[] memory a) {
        a = new address[](ADV_ACCOUNTS);
        for (uint256 i = 0; i < ADV_ACCOUNTS; ++i) {
            a[i] = _outsider[i];
        }
    }

    /// @notice The account that runs adversarial node i.
    function aOp(uint256 i) public view returns (address) {
        return _adv[i % ADV_ACCOUNTS];
    }

    function advAccounts() external view returns (address[] memory a) {
        a = new address[](ADV_ACCOUNTS);
        for (uint256 i = 0; i < ADV_ACCOUNTS; ++i) {
            a[i] = _adv[i];
        }
    }

    /// @notice The operator the world expects behind a node key (zero for unknown keys).
    function expectedOperator(bytes32 key) public view returns (address) {
        for (uint256 i = 0; i < HONEST; ++i) {
            if (_hKey[i] == key) return _hOp[i];
        }
        for (uint256 i = 0; i < ADV_NODES; ++i) {
            if (_aKey[i] == key) return aOp(i);
        }
        return address(0);
    }

    /// @notice Every account that can hold ether in this world (the closed-world check sums them).
    function accounts() public view returns (address[] memory all) {
        all = new address[](4 + HONEST + 2 * ADV_ACCOUNTS + 1 + _extraAccounts.length);
        uint256 n;
        all[n++] = admin;
        all[n++] = coordinator;
        all[n++] = owner;
        all[n++] = attester;
        for (uint256 i = 0; i < HONEST; ++i) {
            all[n++] = _hOp[i];
        }
        for (uint256 i = 0; i < ADV_ACCOUNTS; ++i) {
            all[n++] = _adv[i];
            all[n++] = _outsider[i];
        }
        all[n++] = address(this);
        for (uint256 i = 0; i < _extraAccounts.length; ++i) {
            all[n++] = _extraAccounts[i];
        }
    }

    function nodeCount() external view returns (uint256) {
        return nodes.length;
    }

    function honestJobCount() external view returns (uint256) {
        return honestJobs.length;
    }

    function advJobCount() external view returns (uint256) {
        return advJobs.length;
    }

    function jobRec(bytes32 job) external view returns (JobRec memory) {
        return _jobRec[job];
    }

    function challengeCount() external view returns (uint256) {
        return challenges.length;
    }

    function disputeCount() external view returns (uint256) {
        return disputeIds.length;
    }

    function liveDisputes() external view returns (uint256[] memory) {
        return _liveDisputes;
    }

    function committeeCount() external view returns (uint256) {
        return _committees.length;
    }

    function committee(uint256 i) external view returns (Committee memory) {
        return _committees[i];
    }

    function didKey(uint256 i) external view returns (bytes32 authKey, bytes32 didHash) {
        return (_didAuth[i], keccak256(abi.encodePacked(_didAuth[i])));
    }

    function didSecret(uint256 i) external view returns (bytes32) {
        return _didSecret[i];
    }

    function attestationCount() external view returns (uint256) {
        return _attestations.length;
    }

    function attestation(uint256 i) external view returns (Attestation memory) {
        return _attestations[i];
    }

    function attesterPk() external view returns (uint256) {
        return _attesterPk;
    }

    // -------------------------------------------------------------- bookkeeping (handlers)

    /// @notice Gives `a` `amount` more wei, counted as minted.
    function fund(address a, uint256 amount) public {
        vm.deal(a, a.balance + amount);
        dealt += amount;
    }

    function bump(bytes32 key) public {
        bumpBy(key, 1);
    }

    function bumpBy(bytes32 key, uint256 by) public {
        if (by == 0) return;
        if (counter[key] == 0) _counterKeys.push(key);
        counter[key] += by;
    }

    function counterKeys() external view returns (bytes32[] memory) {
        return _counterKeys;
    }

    /// @notice Records a broken expectation found inside a handler (a handler cannot fail the
    /// campaign by reverting: reverts are ignored), for the invariant to report.
    function violate(string memory what, bytes memory reason) public {
        if (violations == 0) {
            firstViolation = what;
            firstReason = reason;
        }
        ++violations;
    }

    function addJob(bytes32 job, bool honest_, uint32 rounds, uint8 groups, uint256 budget) external {
        _jobRec[job] =
            JobRec({honest: honest_, cancelled: false, abandoned: false, groups: groups, rounds: rounds, budget: budget});
        if (honest_) honestJobs.push(job);
        else advJobs.push(job);
    }

    function addMembers(bytes32 job, bytes32[] calldata ns) external {
        for (uint256 i = 0; i < ns.length; ++i) {
            if (kindOf[ns[i]] == HONEST_KIND) _honestMembers[job].push(ns[i]);
        }
    }

    function honestMembers(bytes32 job) external view returns (bytes32[] memory) {
        return _honestMembers[job];
    }

    /// @notice The honest owner cancelled `job`: its whole budget is owed back.
    function cancelled(bytes32 job) external {
        _jobRec[job].cancelled = true;
        refundCounted[job] = true;
        expectedOwner += _jobRec[job].budget;
    }

    /// @notice The honest owner abandoned `job`, cut to `rounds` and `kept` of its budget: the
    /// rest is owed back now, and settlement pays on the cut terms.
    function abandoned(bytes32 job, uint32 rounds, uint256 kept) external {
        JobRec storage r = _jobRec[job];
        expectedOwner += r.budget - kept;
        r.budget = kept;
        r.rounds = rounds;
        r.abandoned = true;
    }

    function setSilent(bytes32 key, bool quiet) external {
        silent[key] = quiet;
    }

    function setFake(bytes32 job, uint32 round, bytes32 node, Fake calldata f) external {
        _fakes[job][round][node] = f;
    }

    function fakeOf(bytes32 job, uint32 round, bytes32 node) external view returns (Fake memory) {
        return _fakes[job][round][node];
    }

    function addChallenge(uint256 id) external {
        challenges.push(id);
    }

    function addDispute(uint256 id) external {
        disputeIds.push(id);
        _liveDisputes.push(id);
        DisputeGame.Dispute memory d = disputes.disputeOf(id);
        _addBondCreditor(d.bondPayer);
        _addBondCreditor(registry.operatorOf(d.defender));
    }

    function _addBondCreditor(address a) internal {
        if (_isBondCreditor[a]) return;
        _isBondCreditor[a] = true;
        _bondCreditors.push(a);
    }

    function addCommittee(bytes32 job, uint32 round) external {
        _committees.push(Committee({job: job, round: round, honestDone: false}));
    }

    function addAttestation(bytes32 node, bytes32 hwHash, bytes calldata sig) external {
        _attestations.push(Attestation({node: node, hwHash: hwHash, sig: sig}));
        if (kindOf[node] == HONEST_KIND) ghostHw[node] = hwHash;
    }

    function didWasCreated(uint256 i, bytes calldata proof_, bytes32 didHash) external {
        didCreated[i] = true;
        lastDidProof = proof_;
        lastDidHash = didHash;
        lastDidEnc = didEnc[i];
    }

    function setHonestModel(bytes32 id) external {
        honestModel = id;
    }

    function checkpointAdded() external {
        ++ghostCheckpoints;
    }

    function withdrew(address a, uint256 amount) external {
        jobsWithdrawn[a] += amount;
    }

    // ------------------------------------------------------------------------ registration

    function registerHonest(uint256 i) public returns (bool ok) {
        bytes32 key = _hKey[i];
        if (registered[key]) return false;
        uint256 value = registry.requiredStake(INodeCertRegistry.NodeRole.GPUProvider);
        bytes memory reason;
        (ok, reason) = _register(_hOp[i], key, _hSecret[i], INodeCertRegistry.NodeRole.GPUProvider, value);
        if (!ok) {
            violate("honest registerNode reverted", reason);
            return false;
        }
        if (registry.operatorOf(key) != _hOp[i]) violate("honest key bound to another operator", "");
        registered[key] = true;
        nodes.push(key);
        ghostStake[key] = value;
    }

    function registerAdversarial(uint256 i, INodeCertRegistry.NodeRole role) public returns (bool ok) {
        bytes32 key = _aKey[i];
        if (registered[key]) return false;
        (ok,) = _register(aOp(i), key, _aSecret[i], role, registry.requiredStake(role));
        if (ok) {
            registered[key] = true;
            nodes.push(key);
        }
    }

    function _register(address op, bytes32 key, bytes32 secret, INodeCertRegistry.NodeRole role, uint256 value)
        internal
        returns (bool ok, bytes memory reason)
    {
        fund(op, value);
        bytes memory sig = vm.signEd25519("", abi.encodePacked(registry.bindingDigest(op, key)), secret);
        bytes32 caps = role == INodeCertRegistry.NodeRole.TEE ? bytes32(uint256(3)) : bytes32(uint256(1));
        vm.prank(op);
        (ok, reason) = address(registry).call{value: value}(
            abi.encodeCall(registry.registerNode, (key, role, "eu-west", caps, bytes32("sla-1"), sig))
        );
    }

    // ------------------------------------------------------------------ honest behaviour

    /// @notice Runs an action an honest actor takes only when it must succeed: a revert is a
    /// protocol bug (an honest actor blocked), recorded as a violation.
    function honestCall(address who, address target, bytes memory data, uint256 value, string memory what)
        public
        returns (bool ok, bytes memory ret)
    {
        vm.prank(who);
        (ok, ret) = target.call{value: value}(data);
        if (!ok) violate(what, ret);
    }

    /// @notice The honest trace of a node's task in `round` (its task group's).
    function honestTrace(bytes32 job, uint32 round, bytes32 node) public view returns (Trace.T memory) {
        return Trace.honest(job, round, verification.groupOf(job, node));
    }

    /// @notice What a node committed for a round, when the world knows it (honest nodes, and
    /// adversarial ones that did not commit garbage).
    function traceOf(bytes32 job, uint32 round, bytes32 node) public view returns (bool known, Trace.T memory t) {
        if (kindOf[node] == HONEST_KIND) return (true, honestTrace(job, round, node));
        Fake memory f = _fakes[job][round][node];
        if (!f.set || f.mode == Trace.GARBAGE) return (false, t);
        return (true, Trace.fake(job, round, verification.groupOf(job, node), f.mode, f.k, f.other, f.salt));
    }

    /// @notice An honest node commits its honest result for the open round of `job`, if it holds
    /// a task there and has not committed yet.
    function honestCommit(bytes32 job, bytes32 node) public returns (bool) {
        if (kindOf[node] != HONEST_KIND || !jobs.isAssigned(job, node)) return false;
        if (jobs.roundInfo(job).status != IAIJobManager.JobStatus.Running) return false;
        // A deactivated node's worker stops: the registry refuses its commits.
        if (!registry.isComputeEligible(node)) return false;
        uint32 round = proofs.openRoundOf(job);
        if (proofs.resultOf(job, round, node) != bytes32(0)) return false;
        Trace.T memory t = honestTrace(job, round, node);
        ProofOfCompute.RoundCommit memory c = ProofOfCompute.RoundCommit({
            jobId: job,
            round: round,
            nodePubkey: node,
            lossDigest: t.loss,
            gradientDigest: t.grad,
            weightsDigest: t.weights,
            proofsRoot: keccak256(abi.encode("train-proofs", t.stepsRoot))
        });
        (bool ok,) = honestCall(
            jobs.assignedOperator(job, node), address(proofs), abi.encodeCall(proofs.commitRound, (c)), 0, "honest commitRound"
        );
        if (!ok) return false;
        ghostRounds[job][node] += 1;
        bump("commit.honest");
        return true;
    }

    /// @notice What honest nodes do whenever they are online, i.e. before any time passes:
    /// heartbeat, commit the open round of every job they work on once their training is done
    /// (each in its own time, drawn from `entropy`; the coordinator waits for all before it closes
    /// a round), answer every open challenge against them, defend and bisect every dispute against
    /// them, attest in every committee they sit on.
    function react(uint256 entropy) external {
        for (uint256 i = 0; i < HONEST; ++i) {
            bytes32 key = _hKey[i];
            if (!registered[key]) continue;
            honestCall(_hOp[i], address(registry), abi.encodeCall(registry.heartbeat, (key)), 0, "honest heartbeat");
        }
        for (uint256 j = 0; j < honestJobs.length; ++j) {
            bytes32 job = honestJobs[j];
            if (jobs.roundInfo(job).status != IAIJobManager.JobStatus.Running) continue;
            bytes32[] storage ms = _honestMembers[job];
            for (uint256 i = 0; i < ms.length; ++i) {
                // Each honest node finishes its round's training in its own time (a quarter of the
                // time per step), so rounds get disputed before the group's majority exists.
                if (uint256(keccak256(abi.encode(entropy, job, ms[i]))) % 4 == 0) honestCommit(job, ms[i]);
            }
        }
        _answerChallenges();
        _playDisputes();
        _attestCommittees();
    }

    function _answerChallenges() internal {
        for (uint256 i = challenges.length; i > 0; --i) {
            uint256 id = challenges[i - 1];
            VerificationManager.Challenge memory c = verification.challengeOf(id);
            // Answered ones stay listed until released: upkeep releases them after the window.
            if (c.status != VerificationManager.Status.Open && c.status != VerificationManager.Status.Answered) {
                challenges[i - 1] = challenges[challenges.length - 1];
                challenges.pop();
                continue;
            }
            if (c.status != VerificationManager.Status.Open) continue;
            if (kindOf[c.nodePubkey] != HONEST_KIND || block.timestamp > c.deadline) continue;
            answer(id, c, honestTrace(c.jobId, c.round, c.nodePubkey), _hOpOf(c.nodePubkey), true);
        }
    }

    /// @notice Answers challenge `id` from trace `t` (valid openings of what `t` committed).
    function answer(uint256 id, VerificationManager.Challenge memory c, Trace.T memory t, address from, bool honest_)
        public
        returns (bool ok)
    {
        bytes memory data;
        if (c.count == 0) {
            data = abi.encodeCall(
                verification.respondStep,
                (id, t.loss, t.grad, t.weights, Trace.record(t, c.step), Trace.proof(Trace.recordLeaves(t), c.step))
            );
        } else {
            bytes32[4] memory leaves = Trace.chunkLeaves(t);
            bytes[] memory chunks = new bytes[](c.count);
            bytes32[][] memory ps = new bytes32[][](c.count);
            for (uint256 j = 0; j < c.count; ++j) {
                uint256 index = verification.chunkIndex(c.seed, j, 2);
                chunks[j] = abi.encodePacked(t.chunks[index]);
                ps[j] = Trace.proof(leaves, index);
            }
            data = abi.encodeCall(verification.respond, (id, t.loss, t.grad, t.weights, chunks, ps));
        }
        if (honest_) {
            (ok,) = honestCall(from, address(verification), data, 0, "honest respond to challenge");
        } else {
            vm.prank(from);
            (ok,) = address(verification).call(data);
        }
        if (ok) bump(honest_ ? bytes32("challenge.answered.honest") : bytes32("challenge.answered.adv"));
    }

    function _playDisputes() internal {
        for (uint256 i = _liveDisputes.length; i > 0; --i) {
            uint256 id = _liveDisputes[i - 1];
            DisputeGame.Dispute memory d = disputes.disputeOf(id);
            if (d.phase == DisputeGame.Phase.Settled) {
                _liveDisputes[i - 1] = _liveDisputes[_liveDisputes.length - 1];
                _liveDisputes.pop();
                continue;
            }
            if (block.timestamp > d.deadline) continue;
            if (kindOf[d.defender] == HONEST_KIND) {
                if (d.phase == DisputeGame.Phase.AwaitDefence) {
                    defend(id, d, honestTrace(d.jobId, d.round, d.defender), _hOpOf(d.defender), true);
                } else if (d.phase == DisputeGame.Phase.Bisecting && !d.defenderIn) {
                    reveal(id, false, honestTrace(d.jobId, d.round, d.defender), _hOpOf(d.defender), true);
                }
            }
            // Honest nodes never open disputes, so they are never the challenger.
        }
    }

    function endsOf(Trace.T memory t) public pure returns (DisputeGame.Ends memory e) {
        bytes32[4] memory leaves = Trace.stepLeaves(t);
        e = DisputeGame.Ends({
            lossDigest: t.loss,
            gradientDigest: t.grad,
            weightsDigest: t.weights,
            stepsRoot: t.stepsRoot,
            startDigest: t.s[0],
            startProof: Trace.proof(leaves, 0),
            endProof: Trace.proof(leaves, STEPS)
        });
    }

    function defend(uint256 id, DisputeGame.Dispute memory, Trace.T memory t, address from, bool honest_)
        public
        returns (bool ok)
    {
        bytes memory data = abi.encodeCall(disputes.defend, (id, endsOf(t)));
        if (honest_) {
            (ok,) = honestCall(from, address(disputes), data, 0, "honest defend");
        } else {
            vm.prank(from);
            (ok,) = address(disputes).call(data);
        }
        if (ok) bump(honest_ ? bytes32("dispute.defended.honest") : bytes32("dispute.defended.adv"));
    }

    function reveal(uint256 id, bool challengerSide, Trace.T memory t, address from, bool honest_)
        public
        returns (bool ok)
    {
        uint32 mid = disputes.midpoint(id);
        bytes memory data =
            abi.encodeCall(disputes.reveal, (id, challengerSide, t.s[mid], Trace.proof(Trace.stepLeaves(t), mid)));
        if (honest_) {
            (ok,) = honestCall(from, address(disputes), data, 0, "honest reveal");
        } else {
            vm.prank(from);
            (ok,) = address(disputes).call(data);
        }
        if (ok) bump(honest_ ? bytes32("dispute.revealed.honest") : bytes32("dispute.revealed.adv"));
    }

    /// @dev Honest committee members recompute every eligible target of the round and attest the
    /// honest result of the target's task group, once per committee (targets are final: the round
    /// is closed).
    function _attestCommittees() internal {
        for (uint256 c = 0; c < _committees.length; ++c) {
            Committee storage cm = _committees[c];
            if (cm.honestDone) continue;
            (bytes32[] memory members, uint64 deadline) = verification.committeeOf(cm.job, cm.round);
            if (block.timestamp > deadline) continue;
            bytes32[] memory targets = jobs.nodesOf(cm.job);
            uint32[] memory groupOf = new uint32[](targets.length);
            bytes32[] memory committed = new bytes32[](targets.length);
            for (uint256 t = 0; t < targets.length; ++t) {
                groupOf[t] = verification.groupOf(cm.job, targets[t]);
                committed[t] = proofs.resultOf(cm.job, cm.round, targets[t]);
            }
            for (uint256 m = 0; m < members.length; ++m) {
                bytes32 member = members[m];
                if (kindOf[member] != HONEST_KIND) continue;
                // Once the job's settlement is due no attestation opens a case (nor matters).
                if (!proofs.verificationOpen(cm.job)) break;
                uint32 mg = verification.groupOf(cm.job, member);
                for (uint256 t = 0; t < targets.length; ++t) {
                    if (targets[t] == member || committed[t] == bytes32(0) || groupOf[t] == 0) continue;
                    if (groupOf[t] == mg) continue;
                    if (verification.outcomeOf(cm.job, cm.round, targets[t]) != VerificationManager.Outcome.None) {
                        continue;
                    }
                    bytes32 right = Trace.honest(cm.job, cm.round, groupOf[t]).result();
                    (bool ok,) = honestCall(
                        _hOpOf(member),
                        address(verification),
                        abi.encodeCall(verification.attest, (cm.job, cm.round, member, targets[t], right)),
                        0,
                        "honest attest"
                    );
                    if (ok) bump("attest.honest");
                }
            }
            cm.honestDone = true;
        }
    }

    function _hOpOf(bytes32 key) internal view returns (address) {
        uint256 i = _hIndex[key];
        return i == 0 ? address(0) : _hOp[i - 1];
    }

    // --------------------------------------------------------------------- reward model

    /// @notice The reward spec, independent of the contract's bookkeeping: a node is paid for the
    /// rounds it committed among the job's rounds 0..rounds-1 (not for what it says it did; of an
    /// abandoned job's last round, the one it left open, only a commit a majority confirmed), at
    /// the job's fixed terms, weighted by its quality (a zero-quality node's share stays the
    /// owner's: it counts in the totals at neutral quality): batch 40% (scaled down alike when the base
    /// rate over-asks), step 20%, round 30% and accuracy 10% pools, each floor-divided like
    /// ProofOfCompute._settle.
    function modelPays(bytes32 job) public view returns (uint256[] memory pays, address[] memory ops) {
        IAIJobManager.JobTerms memory t = jobs.termsOf(job);
        bytes32[] memory ns = jobs.nodesOf(job);
        pays = new uint256[](ns.length);
        ops = new address[](ns.length);
        uint256[] memory steps = new uint256[](ns.length);
        uint256[] memory quality = new uint256[](ns.length);
        uint256[] memory demand = new uint256[](ns.length);
        uint256 wSteps;
        uint256 wRounds;
        uint256 wSamples;
        uint256 totalDemand;
        uint256 bonusBps = uint256(t.samplesPerStep) * 10;
        if (bonusBps > 2_000) bonusBps = 2_000;
        for (uint256 i = 0; i < ns.length; ++i) {
            ops[i] = jobs.assignedOperator(job, ns[i]);
            quality[i] = proofs.workOf(job, ns[i], ops[i]).qualityBps;
            uint256 rounds;
            for (uint32 r = 0; r < t.rounds; ++r) {
                if (proofs.resultOf(job, r, ns[i]) != bytes32(0)) ++rounds;
            }
            if (
                rounds > 0 && _jobRec[job].abandoned && proofs.resultOf(job, t.rounds - 1, ns[i]) != bytes32(0)
                    && !proofs.sealedCommitConfirmed(job, ns[i])
            ) --rounds;
            steps[i] = rounds * t.stepsPerRound;
            // An unpaid (zero-quality) node's work counts in the totals at neutral quality: its
            // share is the owner's, never its job mates'.
            uint256 weight = quality[i] == 0 ? 10_000 : quality[i];
            wSteps += steps[i] * weight;
            wRounds += rounds * weight;
            wSamples += steps[i] * t.samplesPerStep * weight;
            uint256 rate = steps[i] * t.secondsPerStep * t.baseRatePerSecond * (BPS + bonusBps) / BPS;
            demand[i] = rate * quality[i] / BPS;
            totalDemand += rate * weight / BPS;
            pays[i] = rounds; // rounds, for the pass below
        }
        bool bonus = t.targetImprovementBps > 0 && t.achievedImprovementBps >= t.targetImprovementBps;
        uint256 batchPool = t.budget * 4_000 / BPS;
        for (uint256 i = 0; i < ns.length; ++i) {
            uint256 rounds = pays[i];
            uint256 batch = demand[i];
            if (totalDemand > batchPool) batch = batch * batchPool / totalDemand;
            uint256 total = batch + _share(t.budget, 2_000, steps[i] * quality[i], wSteps)
                + _share(t.budget, 3_000, rounds * quality[i], wRounds);
            if (bonus) total += _share(t.budget, 1_000, steps[i] * t.samplesPerStep * quality[i], wSamples);
            pays[i] = total;
        }
    }

    /// @notice The rounds settlement pays `node` on `job`: its commits, less one to the round an
    /// abandoned job left open that no task group's majority confirmed.
    function _paidRounds(bytes32 job, bytes32 node) internal view returns (uint256 n) {
        n = ghostRounds[job][node];
        uint32 rounds = jobs.termsOf(job).rounds;
        if (
            n > 0 && _jobRec[job].abandoned && proofs.resultOf(job, rounds - 1, node) != bytes32(0)
                && !proofs.sealedCommitConfirmed(job, node)
        ) --n;
    }

    function _share(uint256 budget, uint256 poolBps, uint256 part, uint256 whole) internal pure returns (uint256) {
        return whole == 0 ? 0 : budget * poolBps / BPS * part / whole;
    }

    /// @notice Folds settlements that advanced into the cache, checking on the way that the
    /// contract paid what the spec says and that no honest node that committed went unpaid.
    function sync() external {
        for (uint256 j = 0; j < honestJobs.length; ++j) {
            bytes32 job = honestJobs[j];
            (uint256[] memory pays, address[] memory ops, uint32 paid, bool finalized) = _pendingPays(job);
            if (pays.length == 0) continue;
            bytes32[] memory ns = jobs.nodesOf(job);
            uint256 sum;
            for (uint256 i = 0; i < paid; ++i) {
                sum += pays[i];
            }
            if (proofs.settlementOf(job).totalPaid != sum) violate("settlement paid other than the reward spec", "");
            for (uint256 i = verifiedPaid[job]; i < paid; ++i) {
                uint256 h = _honestIndexOfOp(ops[i]);
                if (h < HONEST) {
                    _expectedEarned[h] += pays[i];
                    if (_paidRounds(job, ns[i]) > 0 && pays[i] == 0) violate("honest node that committed unpaid", "");
                }
            }
            verifiedPaid[job] = paid;
            if (finalized) {
                expectedOwner += _refund(job, pays);
                refundCounted[job] = true;
                bump("job.finalized");
            }
        }
    }

    /// @dev Pays of a job whose settlement moved past what was checked (empty otherwise).
    function _pendingPays(bytes32 job)
        internal
        view
        returns (uint256[] memory pays, address[] memory ops, uint32 paid, bool finalized)
    {
        if (refundCounted[job]) return (pays, ops, 0, false);
        IAIJobManager.JobStatus status = jobs.roundInfo(job).status;
        // Settlement starts only once a job completed.
        if (status != IAIJobManager.JobStatus.Completed && status != IAIJobManager.JobStatus.Finalized) {
            return (pays, ops, 0, false);
        }
        paid = proofs.settlementOf(job).paid;
        finalized = status == IAIJobManager.JobStatus.Finalized;
        if (paid == verifiedPaid[job] && !finalized) return (pays, ops, paid, false);
        (pays, ops) = modelPays(job);
    }

    function _refund(bytes32 job, uint256[] memory pays) internal view returns (uint256 refund) {
        refund = _jobRec[job].budget;
        for (uint256 i = 0; i < pays.length; ++i) {
            refund -= pays[i];
        }
    }

    function _honestIndexOfOp(address op) internal view returns (uint256) {
        for (uint256 i = 0; i < HONEST; ++i) {
            if (_hOp[i] == op) return i;
        }
        return type(uint256).max;
    }

    // ---------------------------------------------------------------------------- checks
    //
    // The invariants, asserted after every call (ProtocolInvariantTest.invariant_protocol). They
    // live here, next to the ghost state they read, so a check costs calls into the protocol only.

    function checkAll() external view {
        _checkViolations();
        uint256 staked = _checkNodes();
        (uint256 honestEscrow, uint256 honestOwed) = _checkJobs();
        _checkMoney(staked, honestEscrow, honestOwed);
        _checkIdentities();
    }

    /// @dev 0. No handler saw a call the protocol must refuse go through, or an honest action
    /// (which is only attempted when the protocol must accept it) refused.
    function _checkViolations() internal view {
        if (violations == 0) return;
        vm.assertEq(violations, 0, string.concat(firstViolation, " | data/revert: ", vm.toString(firstReason)));
    }

    /// @dev 2. An honest node keeps every wei it staked, stays active, has no offence, its key is
    /// bound to its own operator (an honest key not yet registered to nobody), and its hardware
    /// record is the last one the attester signed for it. Returns the sum of all nodes' stakes.
    function _checkNodes() internal view returns (uint256 staked) {
        for (uint256 i = 0; i < nodes.length; ++i) {
            bytes32 key = nodes[i];
            (uint32 offences, uint256 stake, bool active) = registry.standingOf(key);
            staked += stake;
            if (kindOf[key] != HONEST_KIND) continue;
            _eq(stake, ghostStake[key], "honest node's stake changed");
            if (!active) vm.assertTrue(false, "honest node deactivated");
            _eq(offences, 0, "honest node has an offence");
            // Its operator is fixed at registration (registerHonest asserts the honest binding).
            bytes32 hw = ghostHw[key];
            if (hw != bytes32(0) && registry.getNode(key).hwHash != hw) {
                vm.assertTrue(false, "honest hardware record rolled back");
            }
        }
        bytes32 late = _hKey[HONEST - 1];
        if (!registered[late] && registry.operatorOf(late) != address(0)) {
            vm.assertTrue(false, "unregistered honest key squatted");
        }
    }

    /// @dev 3 and 4. Rewards and escrow. Until a job's settlement starts no escrow leaves it, and
    /// every honest node on it keeps quality 10,000 and exactly the rounds it honestly committed;
    /// once it completed, no node holds more rounds than it committed among the job's rounds; and
    /// every honest operator and the honest owner were credited by AIJobManager exactly what the
    /// reward spec (modelPays) gives, the owner getting back the budget minus the payments for
    /// committed work. Returns the escrow the honest jobs hold.
    function _checkJobs() internal view returns (uint256 escrow, uint256 owed) {
        uint256[HONEST] memory earned = _expectedEarned;
        uint256 ownerRefunds = expectedOwner;
        for (uint256 j = 0; j < honestJobs.length; ++j) {
            bytes32 job = honestJobs[j];
            if (refundCounted[job]) continue; // finalized (and checked) or cancelled: no escrow
            IAIJobManager.JobTerms memory t = jobs.termsOf(job);
            escrow += t.escrow;
            if (t.status != IAIJobManager.JobStatus.Completed && t.status != IAIJobManager.JobStatus.Finalized) {
                _eq(t.escrow, t.budget, "escrow left a job before settlement");
                _checkMembers(job);
                continue;
            }
            ProofOfCompute.Settlement memory st = proofs.settlementOf(job);
            if (t.status == IAIJobManager.JobStatus.Completed && st.tallied == 0) {
                _eq(t.escrow, t.budget, "escrow left a job before settlement");
                _checkMembers(job);
                _checkLegitRounds(job, t.rounds);
            }
            bool finalized = t.status == IAIJobManager.JobStatus.Finalized;
            if (st.paid == verifiedPaid[job] && !finalized) continue;
            // A settlement moved since the last handler (a raw call): check it against the spec.
            (uint256[] memory pays, address[] memory ops) = modelPays(job);
            for (uint256 i = verifiedPaid[job]; i < st.paid; ++i) {
                uint256 h = _honestIndexOfOp(ops[i]);
                if (h < HONEST) earned[h] += pays[i];
            }
            if (finalized) ownerRefunds += _refund(job, pays);
        }
        for (uint256 i = 0; i < HONEST; ++i) {
            uint256 c = jobs.claimableOf(_hOp[i]);
            owed += c;
            _eq(c + jobsWithdrawn[_hOp[i]], earned[i], "honest operator credited other than the reward spec");
        }
        uint256 o = jobs.claimableOf(owner);
        owed += o;
        _eq(o + jobsWithdrawn[owner], ownerRefunds, "honest owner refunded other than budget minus payments for committed work");
    }

    function _checkMembers(bytes32 job) internal view {
        bytes32[] storage ms = _honestMembers[job];
        for (uint256 i = 0; i < ms.length; ++i) {
            ProofOfCompute.Work memory w = proofs.workOf(job, ms[i], _hOpOf(ms[i]));
            _eq(w.qualityBps, 10_000, "honest node's quality changed");
            _eq(w.rounds, ghostRounds[job][ms[i]], "honest node's round count differs from its commits");
        }
    }

    function _checkLegitRounds(bytes32 job, uint32 rounds) internal view {
        bytes32[] memory ns = jobs.nodesOf(job);
        for (uint256 i = 0; i < ns.length; ++i) {
            if (kindOf[ns[i]] == HONEST_KIND) continue;
            uint256 legit;
            for (uint32 r = 0; r < rounds; ++r) {
                if (proofs.resultOf(job, r, ns[i]) != bytes32(0)) ++legit;
            }
            _eq(
                proofs.workOf(job, ns[i], jobs.assignedOperator(job, ns[i])).rounds,
                legit,
                "a node holds rounds it did not commit within the job's rounds"
            );
        }
    }

    /// @dev 1. Money: every wei a contract holds is owed to someone or burned (the registry's
    /// slashPool, which nothing pays out), and no ether is created or lost in the whole world
    /// (what was minted into it is held by its accounts and contracts).
    function _checkMoney(uint256 staked, uint256 honestEscrow, uint256 honestOwed) internal view {
        _eq(address(registry).balance, registry.totalStaked() + registry.slashPool(), "NodeCertRegistry balance == totalStaked + slashPool");
        _eq(address(jobs).balance, jobs.totalEscrow() + jobs.totalClaimable(), "AIJobManager balance == totalEscrow + totalClaimable");
        _eq(address(disputes).balance, disputes.totalHeld() + disputes.totalClaimable(), "DisputeGame balance == totalHeld + totalClaimable");
        _eq(
            address(reputation).balance + address(proofs).balance + address(models).balance + address(dids).balance
                + address(verification).balance,
            0,
            "no other contract holds ether"
        );
        _eq(staked, registry.totalStaked(), "totalStaked == sum of node stakes");
        uint256 sum = honestEscrow;
        for (uint256 i = 0; i < advJobs.length; ++i) {
            sum += jobs.termsOf(advJobs[i]).escrow;
        }
        _eq(sum, jobs.totalEscrow(), "totalEscrow == sum of job escrows");
        sum = 0;
        for (uint256 i = 0; i < _liveDisputes.length; ++i) {
            sum += disputes.disputeOf(_liveDisputes[i]).bond; // a settled dispute holds no bond
        }
        _eq(sum, disputes.totalHeld(), "totalHeld == sum of undecided bonds");
        // Job credits go to job owners and node operators (the honest ones were read above), bond
        // credits to bond payers, defenders' operators and the treasury (bondCreditors).
        uint256 jobsOwed = honestOwed;
        for (uint256 i = 0; i < ADV_ACCOUNTS; ++i) {
            jobsOwed += jobs.claimableOf(_adv[i]);
        }
        uint256 bondsOwed;
        for (uint256 i = 0; i < _bondCreditors.length; ++i) {
            bondsOwed += disputes.claimableOf(_bondCreditors[i]);
        }
        _eq(jobsOwed, jobs.totalClaimable(), "AIJobManager totalClaimable == what its creditors can pull");
        _eq(bondsOwed, disputes.totalClaimable(), "DisputeGame totalClaimable == what its creditors can pull");
        address[] memory all = accounts();
        uint256 held;
        for (uint256 i = 0; i < all.length; ++i) {
            held += all[i].balance;
        }
        _eq(held + _contractBalances(), baseline + dealt, "ether neither created nor lost (in == held + out)");
    }

    /// @dev Honest DIDs stay bound to their key and controller, the honest model to its owner
    /// and publisher.
    function _checkIdentities() internal view {
        for (uint256 i = 0; i < DIDS; ++i) {
            if (!didCreated[i]) continue;
            ArthaDIDRegistry.DIDDocument memory d = dids.getDID(keccak256(abi.encodePacked(_didAuth[i])));
            if (d.owner != _hOp[i]) vm.assertTrue(false, "honest DID controller changed");
            if (d.authKey != _didAuth[i] || d.encKey != didEnc[i]) vm.assertTrue(false, "honest DID keys changed");
            if (d.revoked) vm.assertTrue(false, "honest DID revoked");
        }
        if (honestModel != bytes32(0)) {
            ModelRegistry.Model memory m = models.getModel(honestModel);
            if (m.owner != owner) vm.assertTrue(false, "honest model owner changed");
            _eq(m.checkpoints, ghostCheckpoints, "honest model checkpoints written by others");
        }
    }

    function _eq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) vm.assertEq(a, b, what);
    }

    function _contractBalances() internal view returns (uint256) {
        return address(registry).balance + address(reputation).balance + address(jobs).balance
            + address(proofs).balance + address(models).balance + address(dids).balance
            + address(verification).balance + address(disputes).balance;
    }

    function contractBalances() external view returns (uint256) {
        return _contractBalances();
    }
}

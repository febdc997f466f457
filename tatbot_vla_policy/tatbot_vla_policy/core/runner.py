"""Load any LeRobot checkpoint through LeRobot's own factory and run it on one observation.

The loading path is the one ``lerobot-rollout`` uses: ``PreTrainedConfig`` from
``config.json``, the policy class from :func:`lerobot.policies.get_policy_class`,
weights with ``from_pretrained``, and the saved pre/post-processor pipelines
(normalisation statistics, tokenizer, device) with
:func:`lerobot.policies.make_pre_post_processors`. No policy type is special-cased:
ACT, diffusion, SmolVLA, pi0/pi0.5 all go through :meth:`PolicyRunner.predict`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from tatbot_bringup.data_contract import CONTRACT_FILE, DATASET_CONTRACT, ContractError, DataContract
from tatbot_vla_policy.core.features import ACTION_KEY, STATE_KEY, Feature
from tatbot_vla_policy.core.hub_refs import HubReferenceError, find_hub_refs, resolve_hub_refs

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"  # what save_pretrained writes for every LeRobot policy
PREPROCESSOR_FILE = "policy_preprocessor.json"  # LeRobot >= 0.4 saves the processors beside it
TRAIN_CONFIG_FILE = "train_config.json"
DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICES = ("auto", "cpu", "cuda")


class CheckpointError(RuntimeError):
    """The checkpoint directory cannot be loaded or run."""


def resolve_checkpoint(path: str | Path) -> Path:
    """The ``pretrained_model`` directory for a checkpoint, checkpoint step or training output dir."""
    path = Path(path).expanduser()
    candidates = [path, path / "pretrained_model", path / "checkpoints" / "last" / "pretrained_model"]
    for candidate in candidates:
        if (candidate / CONFIG_FILE).is_file():
            # LeRobot's pi0/pi0.5 load a checkpoint without weights as random weights (with a print)
            if not (candidate / WEIGHTS_FILE).is_file():
                raise CheckpointError(
                    f"the LeRobot checkpoint {candidate} has no {WEIGHTS_FILE}: its weights are missing (an "
                    "interrupted copy or save?); copy the whole pretrained_model directory"
                )
            if not (candidate / PREPROCESSOR_FILE).is_file():
                raise CheckpointError(
                    f"the LeRobot checkpoint {candidate} has no saved processors ({PREPROCESSOR_FILE}): copy the "
                    "whole pretrained_model directory; a checkpoint from before LeRobot 0.4 needs LeRobot's "
                    f"migration: python -m lerobot.processor.migrate_policy_normalization --pretrained-path {candidate}"
                )
            return candidate.resolve()
    raise CheckpointError(
        f"no LeRobot checkpoint at {path}: expected {CONFIG_FILE} in one of "
        f"{[str(c) for c in candidates]} "
        "(lerobot-train writes <output_dir>/checkpoints/<step>/pretrained_model)"
    )


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; 'cuda[:N]' must be available."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CheckpointError(f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'")
        return device
    raise CheckpointError(f"unknown device {device!r}: use one of {DEVICES} (or 'cuda:N')")


def dataset_info(checkpoint: Path) -> dict | None:
    """The training dataset's meta/info.json (train_config.json -> dataset root), if it is on this machine."""
    try:
        train = json.loads((checkpoint / TRAIN_CONFIG_FILE).read_text())
        info = json.loads((Path(train["dataset"]["root"]) / "meta" / "info.json").read_text())
        return info if isinstance(info, dict) else None
    except (OSError, KeyError, TypeError, ValueError):
        return None


def data_contract(checkpoint: Path) -> DataContract | None:
    """The checkpoint's data contract (tatbot_bringup.data_contract: beside its config.json), else its
    training dataset's (when that dataset is on this machine); None for a checkpoint trained on a
    dataset bag_to_lerobot did not write (or before contracts existed)."""
    path = checkpoint / CONTRACT_FILE
    if not path.is_file():
        try:
            train = json.loads((checkpoint / TRAIN_CONFIG_FILE).read_text())
            path = Path(train["dataset"]["root"]) / DATASET_CONTRACT
        except (OSError, KeyError, TypeError, ValueError):
            return None
        if not path.is_file():
            return None
    try:
        return DataContract.read(path)
    except ContractError as exc:
        raise CheckpointError(str(exc)) from None


def check_contract(contract: DataContract, joint_names: list[str]) -> None:
    """CheckpointError unless the checkpoint's joints are this robot's, in its order."""
    if list(contract.joint_names) != list(joint_names):
        raise CheckpointError(
            f"the checkpoint was trained on the joints {list(contract.joint_names)}; this robot's robot.yaml has "
            f"{list(joint_names)}: use the robot.yaml it was recorded with (parameter config)"
        )


def dataset_fps(checkpoint: Path) -> float | None:
    """fps of the training dataset (dataset_info), if present."""
    try:
        return float(dataset_info(checkpoint)["fps"])
    except (KeyError, TypeError, ValueError):
        return None


def _features(features: dict) -> dict[str, Feature]:
    return {key: Feature(type=ft.type.name, shape=tuple(int(s) for s in ft.shape)) for key, ft in features.items()}


def rtc_config(config, execution_horizon: int):
    """LeRobot's RTCConfig for a flow-matching policy config; CheckpointError for other policies."""
    from lerobot.policies.rtc import RTCConfig

    if not hasattr(config, "rtc_config"):
        raise CheckpointError(
            f"blend_mode rtc needs a flow-matching policy with LeRobot's Real-Time Chunking (smolvla, pi0, pi05); "
            f"this checkpoint is {config.type}: use blend_mode crossfade or ensemble"
        )
    chunk = int(getattr(config, "chunk_size", 0) or 0)
    if chunk and execution_horizon > chunk:
        raise CheckpointError(f"rtc_execution_horizon {execution_horizon} exceeds the checkpoint's chunk_size {chunk}")
    return RTCConfig(enabled=True, execution_horizon=execution_horizon)


def _action_steps(preprocessor):
    """The preprocessor's normalizer and enabled relative-actions step (each None when absent)."""
    from lerobot.processor import NormalizerProcessorStep, RelativeActionsProcessorStep

    steps = list(getattr(preprocessor, "steps", []))
    normalizer = next((s for s in steps if isinstance(s, NormalizerProcessorStep)), None)
    relative = next((s for s in steps if isinstance(s, RelativeActionsProcessorStep) and s.enabled), None)
    return normalizer, relative


class PolicyRunner:
    """One loaded policy with its processors; :meth:`predict` maps an observation to an action chunk."""

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        robot_type: str = "",
        hub_paths: dict[str, str] | None = None,
        rtc_execution_horizon: int = 0,
    ):
        """``hub_paths``: hub id -> local directory for the models the checkpoint names
        (core.hub_refs); ``rtc_execution_horizon`` > 0 turns on LeRobot's Real-Time Chunking
        (flow-matching policies only) with that horizon, in actions."""
        from lerobot.configs import PreTrainedConfig
        from lerobot.policies import get_policy_class, make_pre_post_processors

        if dtype not in DTYPES:
            raise CheckpointError(f"unknown dtype {dtype!r}: use one of {list(DTYPES)}")
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.device = resolve_device(device)
        self.dtype = DTYPES[dtype]
        self.robot_type = robot_type
        path = str(self.checkpoint)
        try:
            local = resolve_hub_refs(find_hub_refs(self.checkpoint), hub_paths or {})
        except HubReferenceError as exc:
            raise CheckpointError(str(exc)) from exc
        step_overrides: dict[str, dict] = {}
        for ref, value in local.items():
            if ref.step:
                step_overrides.setdefault(ref.step, {})[ref.key] = value
        try:
            config = PreTrainedConfig.from_pretrained(path)
            config.pretrained_path = path
            config.device = self.device
            for ref, value in local.items():
                if not ref.step:
                    setattr(config, ref.key, value)
            self.rtc = rtc_execution_horizon > 0
            if self.rtc:
                config.rtc_config = rtc_config(config, rtc_execution_horizon)
            policy = get_policy_class(config.type).from_pretrained(path, config=config)
            policy.to(self.device)
            if self.dtype is not None:
                policy.to(self.dtype)
            policy.eval()
            self.preprocessor, self.postprocessor = make_pre_post_processors(
                config,
                pretrained_path=path,
                preprocessor_overrides={
                    **step_overrides,
                    "device_processor": {
                        "device": self.device,
                        "float_dtype": None if self.dtype is None else str(self.dtype).removeprefix("torch."),
                    },
                },
                postprocessor_overrides={"device_processor": {"device": "cpu"}},
            )
        except CheckpointError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"cannot load the LeRobot checkpoint {path}: {type(exc).__name__}: {exc}") from exc
        self.policy = policy
        self.config = config
        self._action_normalizer, self._relative_step = _action_steps(self.preprocessor)
        self.policy_type = str(config.type)
        self.inputs = _features(config.input_features)
        self.outputs = _features(config.output_features)
        self.n_obs_steps = int(getattr(config, "n_obs_steps", 1) or 1)
        self.n_action_steps = int(getattr(config, "n_action_steps", 0) or 0)

    def __repr__(self) -> str:
        return f"{self.policy_type} @ {self.checkpoint}"

    @property
    def unnormalized_inputs(self) -> list[str]:
        """Vector inputs the checkpoint's processors pass to the model unscaled (their feature type,
        e.g. ENV for observation.environment_state, is missing from its normalization_mapping)."""
        mapping = {str(k): str(getattr(v, "value", v)) for k, v in self.config.normalization_mapping.items()}
        return [
            key
            for key, feature in self.config.input_features.items()
            if feature.type.value in ("STATE", "ENV") and mapping.get(feature.type.value, "IDENTITY") == "IDENTITY"
        ]

    def reset(self) -> None:
        """Clear the policy's internal queues (start of a run)."""
        self.policy.reset()

    def predict(
        self, features: dict[str, np.ndarray], task: str, prefix: np.ndarray | None = None, inference_delay: int = 0
    ) -> np.ndarray:
        """LeRobot-layout observation (no batch dim) -> (N, action_dim) float64 actions, unnormalised.

        With RTC on, ``prefix`` is the unexecuted tail of the plan being executed, (L, action_dim)
        joint targets on this chunk's time grid (None: no plan, e.g. the first chunk of a run), and
        ``inference_delay`` the number of this chunk's first actions that will be due before it
        can be used: RTC holds those to the prefix and guides the rest towards it.
        """
        batch = {key: torch.from_numpy(np.ascontiguousarray(value))[None] for key, value in features.items()}
        batch["task"] = [task]
        batch["robot_type"] = self.robot_type
        # RTC's guidance differentiates through the denoiser: no inference-mode tensors then
        with torch.no_grad() if self.rtc else torch.inference_mode(), self._autocast():
            batch = self.preprocessor(batch)
            kwargs = {}
            if self.rtc and prefix is not None and len(prefix):
                kwargs = {
                    "inference_delay": int(inference_delay),
                    "prev_chunk_left_over": self._model_space(prefix, features[STATE_KEY]),
                    "execution_horizon": self.config.rtc_config.execution_horizon,
                }
            actions = self.policy.predict_action_chunk(batch, **kwargs)
            if actions.ndim == 2:  # (B, A): single-step policies
                actions = actions[:, None]
            actions = self.postprocessor(actions.float())
        actions = actions[0].detach().cpu().double().numpy()
        if self.n_action_steps:
            actions = actions[: self.n_action_steps]
        return actions

    def _model_space(self, actions: np.ndarray, state: np.ndarray) -> torch.Tensor:
        """Absolute joint targets -> what the model predicts (relative to ``state`` when the
        checkpoint learns relative actions, then normalized), (1, L, action_dim) on the device."""
        from lerobot.policies.rtc import reanchor_relative_rtc_prefix
        from lerobot.processor import TransitionKey, create_transition

        absolute = torch.from_numpy(np.asarray(actions, dtype=np.float32))[None]
        if self._relative_step is not None:
            current = torch.from_numpy(np.asarray(state, dtype=np.float32).reshape(-1, absolute.shape[-1])[-1])
            return reanchor_relative_rtc_prefix(
                absolute, current, self._relative_step, self._action_normalizer, self.device
            )
        if self._action_normalizer is not None:
            absolute = self._action_normalizer(create_transition(action=absolute))[TransitionKey.ACTION]
        return absolute.to(self.device)

    def _autocast(self):
        """Reduced-precision compute for stray float32 tensors policies create internally."""
        enabled = self.dtype in (torch.bfloat16, torch.float16)
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self.dtype, enabled=enabled)

    def example_features(self) -> dict[str, np.ndarray]:
        """Zero observation with the checkpoint's input shapes (for warm-up)."""
        lead = (self.n_obs_steps,) if self.n_obs_steps > 1 else ()
        return {key: np.zeros(lead + ft.shape, dtype=np.float32) for key, ft in self.inputs.items()}

    def warm_up(self, iterations: int, task: str = "") -> None:
        """Run the model on a zero observation (allocations, kernels, lazy init), then reset."""
        features = self.example_features()
        for _ in range(iterations):
            self.predict(features, task)
        self.reset()

    @property
    def action_dim(self) -> int:
        return self.outputs[ACTION_KEY].shape[0] if ACTION_KEY in self.outputs else 0

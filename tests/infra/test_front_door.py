"""A municipality behind Azure Front Door names the profile's id; the template hands it to the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.infra.conftest import MUNICIPALITY_FILES

FRONT_DOOR_ID = "0f3b6a2e-9c41-4d7e-8a5b-2c9e7f1d4a60"


def test_the_front_door_id_reaches_the_app_as_front_door_id(
    main_template: dict[str, Any], app_settings: dict[str, Any]
) -> None:
    assert "frontDoorId" in main_template["parameters"]
    assert main_template["parameters"]["frontDoorId"]["default"] == ""  # no Front Door unless the file names one
    assert app_settings["FRONT_DOOR_ID"] == "frontDoorId"


def test_a_municipality_file_may_name_a_front_door(tmp_path: Path, deploy_params: Any) -> None:
    document = deploy_params.load(MUNICIPALITY_FILES[0])
    document["deployment"]["frontDoorId"] = FRONT_DOOR_ID
    path = tmp_path / MUNICIPALITY_FILES[0].name
    assert deploy_params.check_deployment(path, document) == []
    assert deploy_params.template_parameters(document)["frontDoorId"] == FRONT_DOOR_ID


def test_a_front_door_id_that_is_not_a_guid_is_refused(tmp_path: Path, deploy_params: Any) -> None:
    document = deploy_params.load(MUNICIPALITY_FILES[0])
    document["deployment"]["frontDoorId"] = "my-front-door"  # the profile's name, not its id
    path = tmp_path / MUNICIPALITY_FILES[0].name
    problems = "\n".join(deploy_params.check_deployment(path, document))
    assert "deployment.frontDoorId must be the Front Door profile's id, a GUID" in problems

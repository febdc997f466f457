from setuptools import find_packages, setup

package_name = "tatbot_arm_driver"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml", "README.md"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tatbot maintainers",
    maintainer_email="maintainers@tatbot.dev",
    description=(
        "Safe trajectory-following driver for the two tatbot arms (mock and "
        "Trossen backends) and simulated wrist cameras."
    ),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "arm_driver = tatbot_arm_driver.arm_driver_node:main",
            "sim_camera = tatbot_arm_driver.sim_camera_node:main",
            "teleop = tatbot_arm_driver.teleop_node:main",
            "sim_operator = tatbot_arm_driver.sim_operator_node:main",
        ],
    },
)
